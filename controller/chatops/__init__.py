"""Chat-ops: a Rollout's commands from chat (Slack, Matrix), authorised per person.

This version holds the pure parts: :mod:`~controller.chatops.commands` (what a
message asks for) and :mod:`~controller.chatops.identities` (who its sender is
in Kubernetes). The ``landinggear chatops`` process that serves them is not
built yet.
"""
