"""The notifier of ``landinggear chatops``, wired from its settings: the configured
destinations as sinks, and the Rollout informer that feeds it.

Enabled when any destination is configured (:meth:`ChatopsSettings.notifies`):
``--slack-channel`` / ``--slack-channels`` (with the bot token's ``WebClient``),
``--teams-webhooks-file``, ``--notify-webhooks`` (with
``--webhook-secret-file``). Rollouts choose among these destinations with
their ``landinggear.dev/notify`` annotation (:mod:`controller.chatops.destinations`).
The informer watches Rollouts in every namespace (the chat-ops ClusterRole has
``list`` and ``watch`` on them).
"""

from __future__ import annotations

from kubernetes.client import ApiClient
from slack_sdk import WebClient

from controller.chatops.destinations import key, pairs
from controller.chatops.notes import Sink
from controller.chatops.notifier import Notifier
from controller.chatops.settings import ChatopsSettings
from controller.chatops.slack.notify import SlackSink
from controller.chatops.webhooks import TeamsSink, WebhookSink
from controller.cli.api import ROLLOUTS
from controller.kube.informer import Handlers, Informer
from controller.kube.objects import KubeObject

__all__ = ["Notifying", "sinks"]


def sinks(
    settings: ChatopsSettings,
    *,
    web: WebClient | None,
    teams_file: str | None,
    webhook_key: str | None,
) -> dict[str, Sink]:
    """Destination key → sink, for every configured destination. ``teams_file`` and
    ``webhook_key`` are the contents of their secret files (already read)."""
    found: dict[str, Sink] = {}
    if web is not None:
        for dest, channel in settings.slack_destinations().items():
            found[dest] = SlackSink(web, channel=channel, name=dest)
    for name, url in pairs(teams_file or "", what="teams webhooks file", separator="\n").items():
        dest = key("teams", name)
        found[dest] = TeamsSink(url, name=dest, timeout=settings.notify_timeout)
    if webhook_key is not None:
        for dest, url in settings.webhook_destinations().items():
            found[dest] = WebhookSink(
                url, name=dest, key=webhook_key.encode(), timeout=settings.notify_timeout
            )
    return found


class Notifying:
    """The notifier fed by a Rollout informer."""

    def __init__(self, api: ApiClient, notifier: Notifier) -> None:
        self.notifier = notifier
        self.informer = Informer(api, ROLLOUTS, watch_timeout_seconds=300)

        def on_update(old: KubeObject, new: KubeObject) -> None:
            del old
            notifier.observe(new)

        self.informer.add_handler(
            Handlers(
                on_add_fn=notifier.observe, on_update_fn=on_update, on_delete_fn=notifier.forget
            )
        )

    def start(self) -> None:
        self.notifier.start()
        self.informer.start()

    def stop(self) -> None:
        self.informer.stop()
        self.notifier.stop()

    def problems(self) -> list[str]:
        problems = [] if self.informer.alive() else ["the Rollout watch is not running"]
        return problems + ([] if self.notifier.alive() else ["a notification lane stopped"])
