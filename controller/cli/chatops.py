"""``landinggear chatops``: the chat-ops process. Flags override ``LANDINGGEAR_CHATOPS_*``.

``landinggear chatops identity-key @alice:example.org`` (or ``… identity-key TEAM
USER`` for Slack) prints the identities ConfigMap key of a chat user and exits.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from controller.cli.run import LOG_LEVELS

_FLAGS: dict[str, tuple[Callable[[str], Any], str]] = {
    "listen": (str, "host:port of the HTTP server (default 127.0.0.1:8081; port 0: any)"),
    "slack_signing_secret_file": (str, "file with the Slack app's signing secret (enables Slack)"),
    "slack_app_token_file": (str, "file with the Slack app-level token (xapp-…): Socket Mode"),
    "slack_socket_down_after": (float, "seconds Socket Mode may be down before /healthz fails"),
    "slack_token_file": (str, "file with the Slack bot token (xoxb-…)"),
    "slack_channel": (str, "Slack channel id for notifications (annotation: slack)"),
    "slack_channels": (str, "NAME=CHANNEL_ID[,…]: more channels (annotation: slack:NAME)"),
    "teams_webhooks_file": (str, "file of NAME=URL lines: Teams webhooks (teams:NAME)"),
    "webhook_url": (str, "signed notification webhook (annotation: webhook)"),
    "notify_webhooks": (str, "NAME=URL[,…]: signed notification webhooks (webhook:NAME)"),
    "webhook_secret_file": (str, "file with the notification webhooks' signing key"),
    "notify_timeout": (float, "seconds one notification post may take"),
    "slack_api_url": (str, "base URL of Slack's Web API (default https://slack.com/api/)"),
    "matrix_homeserver": (str, "Matrix homeserver URL (enables the Matrix bot)"),
    "matrix_token_file": (str, "file with the Matrix bot's access token"),
    "matrix_room": (str, "room id or alias the bot answers in and notifies (repeatable)"),
    "matrix_poll": (float, "seconds one long-polled Matrix /sync may wait (default 30)"),
    "identities": (str, "NAMESPACE/CONFIGMAP mapping chat users to Kubernetes identities"),
    "identities_refresh": (float, "seconds between reads of the identities ConfigMap"),
    "workers": (int, "commands carried out at once"),
    "queue": (int, "commands that may wait for a worker before the answer is 'busy'"),
    "reply_timeout": (float, "seconds one reply to Slack may take"),
    "instance": (str, "this process' name in Events (default: hostname)"),
    "log_level": (str.lower, "debug, info, warning or error"),
}
_REPEATABLE = {"matrix_room"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "words",
        nargs="*",
        metavar="identity-key ID",
        help="print the identities ConfigMap key of a Matrix user id, or of a Slack TEAM USER",
    )
    for field, (kind, help_text) in _FLAGS.items():
        metavar = "FILE" if field.endswith("_file") else None
        action = "append" if field in _REPEATABLE else "store"
        choices = LOG_LEVELS if field == "log_level" else None
        parser.add_argument(
            f"--{field.replace('_', '-')}", type=kind, metavar=metavar, help=help_text,
            action=action, choices=choices,
        )  # fmt: skip


def run(args: argparse.Namespace) -> int:
    """Print an identity key, or build settings (environment, then flags) and serve."""
    if args.words:
        return _identity_key(args.words)
    import pydantic

    from controller.chatops.settings import ChatopsSettings

    overrides = {
        field: getattr(args, field)
        for field in (*_FLAGS, "kubeconfig", "context")
        if getattr(args, field, None) is not None
    }
    try:
        settings = ChatopsSettings(**overrides)
    except pydantic.ValidationError as err:
        print(f"error: invalid settings:\n{err}", file=sys.stderr)
        return 2
    from controller import arenas, logs
    from controller.chatops.process import Chatops, SetupError, serve

    arenas.cap()  # before any thread starts: one given an arena keeps it
    try:
        chatops = Chatops.build(settings)
        logs.configure(settings.log_level)
    except (SetupError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return serve(chatops)


def _identity_key(words: list[str]) -> int:
    from controller.chatops.identities import matrix_key, slack_key

    key: str | None = None
    if words[0] == "identity-key" and len(words) == 2:
        key = matrix_key(words[1])
    elif words[0] == "identity-key" and len(words) == 3:
        key = slack_key(words[1], words[2])
    else:
        print("usage: chatops identity-key @user:server | chatops identity-key TEAM USER",
              file=sys.stderr)  # fmt: skip
        return 2
    if key is None:
        print(f"error: not a Matrix user id or Slack team and user ids: {' '.join(words[1:])}",
              file=sys.stderr)  # fmt: skip
        return 1
    print(key)
    return 0
