"""``landinggear chatops`` settings: ``LANDINGGEAR_CHATOPS_*`` environment variables, overridden
by flags.

Every chat network is optional, but at least one must be configured: Slack is
configured by ``slack_signing_secret_file`` (inbound commands and buttons over
HTTP need nothing else; ``slack_token_file`` adds the Web API) and/or
``slack_app_token_file`` (Socket Mode: the same commands and buttons over a
connection the process opens); Matrix by
``matrix_homeserver``, with ``matrix_token_file`` and at least one ``matrix_room``
(``LANDINGGEAR_CHATOPS_MATRIX_ROOM`` is a JSON list). With none,
:meth:`ChatopsSettings.networks` is empty and the command exits 2.

Secrets are read from files (a mounted Secret), never from flags or the
environment, so they show up neither in ``ps`` nor in the Pod spec.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from controller.chatops.destinations import key, pairs
from controller.settings import LogLevel

__all__ = ["DEFAULT_IDENTITIES", "ChatopsSettings"]

DEFAULT_IDENTITIES = "landinggear-system/landinggear-chatops-identities"
_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_ROOM = re.compile(r"![^\s]+|#[^:\s]+:[^\s]+")
"""A room id (``!opaque``, ``:server`` too before room version 12) or alias ``#name:server``."""
_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


class ChatopsSettings(BaseSettings):
    """How ``landinggear chatops`` behaves; each field is ``LANDINGGEAR_CHATOPS_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="LANDINGGEAR_CHATOPS_", frozen=True)

    listen: str = Field(
        default="127.0.0.1:8081",
        description="host:port of the HTTP server (Slack's endpoints, /healthz, /readyz). "
        "Loopback by default, so nothing is exposed by accident; the shipped Deployment "
        "listens on 0.0.0.0:8081 behind its Service.",
    )
    slack_signing_secret_file: str | None = Field(
        default=None,
        description="File with the Slack app's signing secret; configures Slack. Read once "
        "at start: rotate it by restarting the process.",
    )
    slack_app_token_file: str | None = Field(
        default=None,
        description="File with the Slack app-level token (xapp-…, scope connections:write); "
        "configures Slack in Socket Mode: the process connects to Slack, so nothing needs "
        "to reach it (no public endpoint). With the signing secret too, both ways serve.",
    )
    slack_socket_down_after: float = Field(
        default=60.0,
        gt=0,
        le=3600,
        description="Seconds the Socket Mode connection may stay down (the SDK reconnecting) "
        "before /healthz fails.",
    )
    slack_token_file: str | None = Field(
        default=None,
        description="File with the Slack bot token (xoxb-…) for Web API calls; checked with "
        "auth.test at start.",
    )
    slack_channel: str | None = Field(
        default=None,
        description="Slack channel id release notifications go to when a Rollout's "
        "landinggear.dev/notify annotation names `slack` (needs slack_token_file).",
    )
    slack_channels: str | None = Field(
        default=None,
        description="More Slack channels for notifications, NAME=CHANNEL_ID[,NAME=…]: a "
        "Rollout names one as `slack:NAME` (or `slack:#NAME`).",
    )
    teams_webhooks_file: str | None = Field(
        default=None,
        description="File of NAME=URL lines: Microsoft Teams incoming-webhook or Workflows "
        "URLs (secrets, hence a file), named by Rollouts as `teams:NAME`.",
    )
    webhook_url: str | None = Field(
        default=None,
        description="The signed-webhook receiver for notifications that Rollouts name as "
        "`webhook`; needs webhook_secret_file.",
    )
    notify_webhooks: str | None = Field(
        default=None,
        description="Signed-webhook receivers for notifications, NAME=URL[,NAME=URL…], named "
        "by Rollouts as `webhook:NAME`; needs webhook_secret_file.",
    )
    webhook_secret_file: str | None = Field(
        default=None, description="File with the key notification webhooks are signed with."
    )
    notify_timeout: float = Field(
        default=10.0, gt=0, le=60, description="Seconds one notification post may take."
    )
    slack_api_url: str = Field(
        default="https://slack.com/api/",
        description="Base URL of Slack's Web API. Replies go only to response_urls on "
        "hooks.slack.com or on this URL's scheme, host and port.",
    )
    matrix_homeserver: str | None = Field(
        default=None,
        description="Base URL of the Matrix homeserver (https://matrix.example.org); "
        "configures the Matrix bot.",
    )
    matrix_token_file: str | None = Field(
        default=None,
        description="File with the Matrix bot account's access token. Read once at start.",
    )
    matrix_room: tuple[str, ...] = Field(
        default=(),
        description="Rooms (ids !abc or !abc:example.org, or aliases #ops:example.org) the "
        "bot answers in and notifies; it joins them, and accepts invites to these rooms only.",
    )
    matrix_poll: float = Field(
        default=30.0, gt=0, le=300, description="Seconds one long-polled Matrix /sync may wait."
    )
    identities: str = Field(
        default=DEFAULT_IDENTITIES,
        description="NAMESPACE/CONFIGMAP mapping chat users to Kubernetes users and groups.",
    )
    identities_refresh: float = Field(
        default=10.0, gt=0, le=3600, description="Seconds between reads of the identities."
    )
    workers: int = Field(default=8, ge=1, le=64, description="Commands carried out at once.")
    queue: int = Field(
        default=64,
        ge=0,
        le=10_000,
        description="Commands that may wait for a worker; beyond that the answer is 'busy'.",
    )
    reply_timeout: float = Field(
        default=10.0, gt=0, le=60, description="Seconds one reply to Slack may take."
    )
    instance: str | None = Field(
        default=None,
        description="This process' name in Events (reportingInstance); default: hostname.",
    )
    kubeconfig: str | None = Field(
        default=None, description="Kubeconfig path; default: in-cluster, then ~/.kube/config."
    )
    context: str | None = Field(default=None, description="Kubeconfig context to use.")
    log_level: LogLevel = Field(default="info", description="debug, info, warning or error.")

    @field_validator("listen")
    @classmethod
    def _valid_listen(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
            raise ValueError(f"listen must be host:port, got {value!r}")
        del host
        return value

    @field_validator("slack_api_url")
    @classmethod
    def _valid_api_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"slack-api-url must be an http(s) URL, got {value!r}")
        return value if value.endswith("/") else value + "/"

    @field_validator("matrix_homeserver")
    @classmethod
    def _valid_homeserver(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"matrix-homeserver must be an http(s) URL, got {value!r}")
        return value.rstrip("/")

    @field_validator("matrix_room")
    @classmethod
    def _valid_rooms(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for room in value:
            if not (_ROOM.fullmatch(room) and len(room) <= 255):
                raise ValueError(
                    f"matrix-room must be a room id !id or an alias #name:server, got {room!r}"
                )
        return tuple(dict.fromkeys(value))

    @field_validator("identities")
    @classmethod
    def _valid_identities(cls, value: str) -> str:
        namespace, sep, name = value.partition("/")
        if not (sep and _LABEL.fullmatch(namespace) and len(namespace) <= 63
                and _SUBDOMAIN.fullmatch(name) and len(name) <= 253):  # fmt: skip
            raise ValueError(f"identities must be NAMESPACE/CONFIGMAP, got {value!r}")
        return value

    @field_validator("slack_channels", "notify_webhooks")
    @classmethod
    def _valid_pairs(cls, value: str | None) -> str | None:
        if value is not None:
            pairs(value, what="NAME=VALUE list")
        return value

    @field_validator("webhook_url")
    @classmethod
    def _valid_webhook(cls, value: str | None) -> str | None:
        if value is not None:
            parts = urlsplit(value)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError("webhook-url is not an http(s) URL")
        return value

    @field_validator("notify_webhooks")
    @classmethod
    def _valid_webhooks(cls, value: str | None) -> str | None:
        for name, url in pairs(value or "", what="notify-webhooks").items():
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(f"notify-webhooks: {name} is not an http(s) URL")
        return value

    def slack_destinations(self) -> dict[str, str]:
        """Destination key (``slack``, ``slack:deploys``) → Slack channel id."""
        named = pairs(self.slack_channels or "", what="slack-channels")
        found = {key("slack", name): channel for name, channel in named.items()}
        return {"slack": self.slack_channel, **found} if self.slack_channel else found

    def webhook_destinations(self) -> dict[str, str]:
        """Destination key (``webhook``, ``webhook:audit``) → URL."""
        named = pairs(self.notify_webhooks or "", what="notify-webhooks")
        found = {key("webhook", name): url for name, url in named.items()}
        return {"webhook": self.webhook_url, **found} if self.webhook_url else found

    def notifies(self) -> bool:
        """Whether any notification destination is configured (the notifier runs)."""
        return bool(
            self.slack_destinations()
            or self.webhook_destinations()
            or self.teams_webhooks_file
            or self.matrix_homeserver
        )

    def networks(self) -> list[str]:
        """The chat networks configured (empty: nothing to serve)."""
        slack = self.slack_signing_secret_file or self.slack_app_token_file
        found = ["slack"] if slack else []
        return found + (["matrix"] if self.matrix_homeserver else [])

    def problem(self) -> str | None:
        """Why these settings cannot run (None: they can)."""
        matrix = (self.matrix_token_file, self.matrix_room)
        checks = [
            (
                bool(self.slack_token_file and "slack" not in self.networks()),
                "--slack-token-file needs --slack-signing-secret-file (Slack's requests are "
                "verified with it) or --slack-app-token-file (Socket Mode)",
            ),
            (
                bool(self.slack_destinations() and not self.slack_token_file),
                "--slack-channel/--slack-channels need --slack-token-file (to post)",
            ),
            (
                bool(self.webhook_destinations() and not self.webhook_secret_file),
                "--webhook-url/--notify-webhooks need --webhook-secret-file (to sign)",
            ),
            (
                any(matrix) and not self.matrix_homeserver,
                "--matrix-token-file and --matrix-room need --matrix-homeserver URL",
            ),
            (
                bool(self.matrix_homeserver) and not all(matrix),
                "--matrix-homeserver needs --matrix-token-file FILE and --matrix-room ROOM",
            ),
            (
                not self.networks(),
                "no chat network configured: pass --slack-signing-secret-file FILE "
                "and/or --slack-app-token-file FILE (and --slack-token-file FILE) for Slack, "
                "and/or --matrix-homeserver URL "
                "--matrix-token-file FILE --matrix-room ROOM for Matrix",
            ),
        ]
        return next((message for failed, message in checks if failed), None)

    @property
    def identities_ref(self) -> tuple[str, str]:
        """The identities ConfigMap's (namespace, name)."""
        namespace, _, name = self.identities.partition("/")
        return namespace, name
