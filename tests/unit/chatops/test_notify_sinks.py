"""The sinks against loopback stand-ins: Slack's Web API (``chat.postMessage``, then
``chat.update`` in place, buttons whose value the click reader turns back into the
command), a Teams webhook (Adaptive Cards, a new card per update) and a signed webhook
(verifiable with the flag webhook's own ``verify``). Redirects and errors raise."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from slack_sdk import WebClient

from controller.chatops.commands import Command, Verb
from controller.chatops.notes import ReleaseNote
from controller.chatops.slack.inbound import read_click
from controller.chatops.slack.notify import SlackSink
from controller.chatops.webhooks import HttpError, TeamsSink, WebhookSink
from controller.flags.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from tests.support.receiver import Receiver
from tests.support.slack import SlackStandIn, click_body

pytestmark = pytest.mark.unit

PAUSED = ReleaseNote(
    namespace="payments",
    rollout="web",
    revision="c2",
    headline="payments/web: release c2 paused at step 2/2 for promotion",
    lines=("Canary c2 at 50% of traffic; stable s1", "errors: <script> & co"),
    actions=(Verb.PROMOTE, Verb.ABORT),
    severity="warning",
)
ABORTED = ReleaseNote(
    namespace="payments",
    rollout="web",
    revision="c2",
    headline="payments/web: release c2 aborted",
    lines=("Aborted by slack:alice: bad",),
    actions=(Verb.RETRY,),
    severity="danger",
)


@pytest.fixture
def slack() -> Iterator[SlackStandIn]:
    stand_in = SlackStandIn().start()
    yield stand_in
    stand_in.stop()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    stand_in = Receiver().start()
    yield stand_in
    stand_in.stop()


def _sink(slack: SlackStandIn) -> SlackSink:
    client = WebClient(token="xoxb-test", base_url=slack.api_url, timeout=5)
    return SlackSink(client, channel="C0DEPLOYS", name="slack")


def test_slack_posts_once_with_buttons_then_updates_the_same_message(slack: SlackStandIn) -> None:
    sink = _sink(slack)
    handle = sink.post(PAUSED)
    sink.update(handle, ABORTED)
    [posted] = slack.calls("chat.postMessage")
    [updated] = slack.calls("chat.update")
    assert handle.startswith("C0DEPLOYS:")
    assert posted["channel"] == "C0DEPLOYS"
    assert (updated["channel"], updated["ts"]) == ("C0DEPLOYS", handle.split(":")[1])
    buttons = next(b for b in posted["blocks"] if b["type"] == "actions")["elements"]
    assert [(b["text"]["text"], b["value"]) for b in buttons] == [
        ("Promote", "promote payments/web"),
        ("Abort", "abort payments/web"),
    ]
    assert "confirm" in buttons[1]
    assert [b["type"] for b in updated["blocks"]] == ["section", "actions"]
    assert "aborted" in updated["blocks"][0]["text"]["text"]
    assert "&lt;script&gt; &amp; co" in posted["blocks"][0]["text"]["text"]


def test_a_done_note_has_no_actions_block(slack: SlackStandIn) -> None:
    done = ReleaseNote(
        namespace="payments",
        rollout="web",
        revision="c2",
        headline="payments/web: release c2 promoted",
        done=True,
    )
    _sink(slack).post(done)
    [posted] = slack.calls("chat.postMessage")
    assert [b["type"] for b in posted["blocks"]] == ["section"]


@pytest.mark.parametrize(
    "verb", [Verb.PROMOTE, Verb.ABORT, Verb.RESUME, Verb.PAUSE, Verb.ROLLBACK, Verb.RETRY]
)
def test_a_click_on_any_button_reads_back_as_its_command(slack: SlackStandIn, verb: Verb) -> None:
    note = ReleaseNote(
        namespace="payments", rollout="web", revision="c2", headline="h", actions=(verb,)
    )
    _sink(slack).post(note)
    blocks = slack.calls("chat.postMessage")[0]["blocks"]
    [button] = next(b for b in blocks if b["type"] == "actions")["elements"]
    clicked = read_click(
        click_body(button["value"], response_url=slack.response_url()), api_url=slack.api_url
    )
    assert not isinstance(clicked, Exception)
    assert getattr(clicked, "asked", None) == Command(
        verb=verb, namespace="payments", rollout="web"
    )


def test_slack_refusing_raises_for_the_notifier_to_retry() -> None:
    client = WebClient(token="xoxb-test", base_url="http://127.0.0.1:9/api/", timeout=1)
    with pytest.raises(OSError, match=r"refused|Connection"):  # unreachable: retried
        SlackSink(client, channel="C1", name="slack").post(PAUSED)


def test_teams_gets_an_adaptive_card_per_change_with_the_commands_as_text(
    receiver: Receiver,
) -> None:
    sink = TeamsSink(receiver.url(), name="teams:payments", timeout=5)
    handle = sink.post(PAUSED)
    sink.update(handle, ABORTED)
    first, second = (r.json() for r in receiver.bodies())
    card = first["attachments"][0]
    assert card["contentType"] == "application/vnd.microsoft.card.adaptive"
    texts = [b["text"] for b in card["content"]["body"]]
    assert texts[0] == PAUSED.headline
    assert "Commands: `promote payments/web`, `abort payments/web`" in texts
    assert second["attachments"][0]["content"]["body"][0]["color"] == "Attention"


def test_the_webhook_is_signed_verifiably_and_says_posted_then_updated(
    receiver: Receiver,
) -> None:
    sink = WebhookSink(
        receiver.url(), name="webhook:audit", key=b"k3y", timeout=5, clock=lambda: 1_700_000_000.0
    )
    handle = sink.post(PAUSED)
    sink.update(handle, ABORTED)
    first, second = receiver.bodies()
    for got in (first, second):
        assert verify(
            b"k3y",
            got.headers[TIMESTAMP_HEADER],
            got.body,
            got.headers[SIGNATURE_HEADER],
            now=1_700_000_010.0,
        )
    assert first.json()["event"] == "posted"
    assert second.json() == {
        "event": "updated",
        "handle": "payments/web/c2",
        "note": {
            "namespace": "payments",
            "rollout": "web",
            "revision": "c2",
            "headline": ABORTED.headline,
            "lines": list(ABORTED.lines),
            "actions": ["retry"],
            "done": False,
            "severity": "danger",
            "tags": [],
        },
    }


@pytest.mark.parametrize("status", [302, 307, 500, 404])
def test_a_redirect_or_an_error_raises_and_is_not_followed(receiver: Receiver, status: int) -> None:
    receiver.status, receiver.location = status, receiver.url("/elsewhere")
    for sink in (
        TeamsSink(receiver.url(), name="t", timeout=5),
        WebhookSink(receiver.url(), name="w", key=b"k", timeout=5),
    ):
        with pytest.raises(HttpError):
            sink.post(PAUSED)
    assert receiver.bodies("/elsewhere") == []
