"""Which destinations a Rollout's ``landinggear.dev/notify`` annotation names, and the
admin's side: the settings that configure them (never a URL from the Rollout)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from controller.chatops.destinations import NOTIFY_ANNOTATION, destinations
from controller.chatops.settings import ChatopsSettings

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("value", "named", "bad"),
    [
        ("slack, slack:#deploys, teams:payments, webhook:audit",
         ("slack", "slack:deploys", "teams:payments", "webhook:audit"), ()),
        ("SLACK:Deploys,,slack:deploys", ("slack:deploys",), ()),
        ("webhook, matrix", ("webhook", "matrix"), ()),
        ("https://evil.example/hook, teams, webhook:", (), ("https://evil.example/hook", "teams",
                                                            "webhook:")),
        ("matrix:!room, slack:a b", (), ("matrix:!room", "slack:a b")),
        ("", (), ()),
    ],
)  # fmt: skip
def test_the_annotation_names_configured_destinations_only(
    value: str, named: tuple[str, ...], bad: tuple[str, ...]
) -> None:
    assert destinations({NOTIFY_ANNOTATION: value}) == (named, bad)


def test_no_annotation_names_nothing() -> None:
    assert destinations(None) == ((), ())
    assert destinations({"other": "slack"}) == ((), ())


def test_settings_map_destinations_to_channels_and_urls() -> None:
    settings = ChatopsSettings(
        slack_signing_secret_file="s", slack_token_file="t", slack_channel="C0MAIN",
        slack_channels="deploys=C0DEPLOYS,#ops=C0OPS",
        webhook_url="https://hooks.example/landinggear",
        notify_webhooks="audit=https://audit.example/hook", webhook_secret_file="k",
    )  # fmt: skip
    assert settings.slack_destinations() == {
        "slack": "C0MAIN", "slack:deploys": "C0DEPLOYS", "slack:ops": "C0OPS"
    }  # fmt: skip
    assert settings.webhook_destinations() == {
        "webhook": "https://hooks.example/landinggear", "webhook:audit": "https://audit.example/hook"
    }  # fmt: skip
    assert settings.notifies()
    assert settings.problem() is None


def test_notifying_without_the_means_to_post_or_sign_is_refused() -> None:
    no_token = ChatopsSettings(slack_signing_secret_file="s", slack_channel="C0MAIN")
    assert "--slack-token-file" in (no_token.problem() or "")
    unsigned = ChatopsSettings(slack_signing_secret_file="s", notify_webhooks="a=https://x/h")
    assert "--webhook-secret-file" in (unsigned.problem() or "")
    lone = ChatopsSettings(slack_signing_secret_file="s", webhook_url="https://x/h")
    assert "--webhook-secret-file" in (lone.problem() or "")
    assert not ChatopsSettings(slack_signing_secret_file="s").notifies()


@pytest.mark.parametrize(
    "value", ["audit", "audit=", "a=file:///etc/passwd", "a=https://x/h,a=https://y/h"]
)
def test_bad_webhook_lists_are_refused_without_echoing_urls(value: str) -> None:
    with pytest.raises(ValidationError) as raised:
        ChatopsSettings(notify_webhooks=value)
    assert "passwd" not in str(raised.value).split("input_value")[0]
