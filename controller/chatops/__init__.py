"""Chat-ops: a Rollout's commands from chat (Slack, Matrix), authorised per person.

- pure: :mod:`~controller.chatops.commands` (what a message asks for) and
  :mod:`~controller.chatops.identities` (who its sender is in Kubernetes);
- :mod:`~controller.chatops.acting`: a command carried out for a person the
  cluster authorises, through the CLI's request path;
- :mod:`~controller.chatops.directory`: the identities ConfigMap, kept fresh;
- :mod:`~controller.chatops.slack`: Slack's requests verified and read, replies;
- :mod:`~controller.chatops.dispatch` (bounded workers), :mod:`~controller.chatops.server`
  (HTTP), :mod:`~controller.chatops.settings` and :mod:`~controller.chatops.process`:
  the ``landinggear chatops`` process;
- :mod:`~controller.chatops.matrix`: the Matrix bot (commands in a thread) and its
  release-note sink. The notifier loop is not built yet.
"""
