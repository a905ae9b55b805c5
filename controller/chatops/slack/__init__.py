"""Slack over HTTP or Socket Mode: slash commands and button clicks, answered at once.

- :mod:`~controller.chatops.slack.verifying`: Slack's request signature (the SDK's
  ``SignatureVerifier``), the five-minute window and a cache of signatures seen in
  it, so a captured request cannot be replayed.
- :mod:`~controller.chatops.slack.inbound`: what a verified request asks for and
  who sent it (a slash command's form, or a click's ``payload`` JSON), read purely.
- :mod:`~controller.chatops.slack.replies`: answers sent to ``response_url`` (only on
  Slack's hosts) and the Web API client.
- :mod:`~controller.chatops.slack.socketmode`: the same commands and clicks as
  envelopes on a connection the process opens with an app-level token (no public
  endpoint, no signature: the token authenticates the connection).
"""
