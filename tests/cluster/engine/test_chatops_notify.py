"""A release notification with buttons, clicked: the real ``landinggear chatops`` process
(notifier on, Slack destination configured) and the real controller, on the real API
server.

A Rollout annotated ``landinggear.dev/notify: slack`` pauses for promotion; the bot
posts one ``chat.postMessage`` to Slack's loopback stand-in with Promote and Abort
buttons. The Abort button's recorded ``value`` is clicked — signed exactly as Slack
signs it — by a person whose own RBAC allows it; the controller aborts, the canary
goes to 0 replicas, and the same message is ``chat.update``d to say aborted, by whom.
Slack's servers cannot be reached here: :class:`tests.support.slack.SlackStandIn`
records the Web API calls.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.chatops_bot import Bot, slack_bot
from tests.support.scenario import Harness
from tests.support.waiting import eventually

CHANNEL = "C0DEPLOYS"


@pytest.fixture
def notifying_bot(harness: Harness, tmp_path: Path) -> Iterator[Bot]:
    (tmp_path / "token").write_text("xoxb-stand-in")
    extra = (f"--slack-token-file={tmp_path / 'token'}", f"--slack-channel={CHANNEL}")
    with slack_bot(harness, tmp_path, *extra) as started:
        yield started


def _buttons(call: dict[str, Any]) -> dict[str, str]:
    """Button label → value of a recorded message call."""
    for block in call.get("blocks") or []:
        if block.get("type") == "actions":
            return {b["text"]["text"]: b["value"] for b in block["elements"]}
    return {}


def _text(call: dict[str, Any]) -> str:
    return str(call["blocks"][0]["text"]["text"])


def test_a_paused_release_is_posted_with_buttons_and_a_click_rolls_it_back(
    harness: Harness, notifying_bot: Bot
) -> None:
    ns, slack = harness.namespace, notifying_bot.slack
    harness.create_app(replicas=2)
    harness.start_controller()
    harness.create_rollout(steps=[{"setWeight": 50}, {"pause": {}}])
    harness.kube.kubectl("annotate", "rollout", "web", f"--namespace={ns}",
                         "landinggear.dev/notify=slack")  # fmt: skip
    stable: str = harness.wait_status("adopted", phase="Healthy")["stableRevision"]
    harness.set_image("web:v2")
    canary: str = harness.wait_status("paused at 50 %", currentStepIndex=1, timeout=60)[
        "canaryRevision"
    ]

    def paused_message() -> dict[str, Any] | None:
        calls = slack.calls("chat.postMessage") + slack.calls("chat.update")
        return next((c for c in reversed(calls) if "for promotion" in _text(c)), None)

    paused = eventually(paused_message, timeout=30, what="the paused release posted")
    [posted] = slack.calls("chat.postMessage")  # one message for the release
    assert posted["channel"] == CHANNEL
    assert canary in _text(posted)
    buttons = _buttons(paused)
    assert buttons == {"Promote": f"promote {ns}/web", "Abort": f"abort {ns}/web"}

    clicked = time.monotonic()
    status, url = notifying_bot.click(buttons["Abort"], user="U0ALICE", name="alice", n=1)
    assert status == 200
    assert slack.wait_reply(url, timeout=30)["response_type"] == "in_channel"
    harness.wait_status("aborted", phase="Degraded", stableRevision=stable, timeout=30)
    eventually(lambda: harness.replica_sets().get(canary, (0, 0))[0] == 0, timeout=30,
               what="canary at 0 replicas")  # fmt: skip
    at_zero = time.monotonic() - clicked

    def aborted_update() -> dict[str, Any] | None:
        return next((c for c in slack.calls("chat.update") if "aborted" in _text(c)), None)

    update = eventually(aborted_update, timeout=30, what="the message updated to aborted")
    assert update["channel"] == CHANNEL
    assert update["ts"] == slack.calls("chat.update")[0]["ts"]  # the same message throughout
    assert "slack:alice" in _text(update)
    assert set(_buttons(update)) == {"Retry"}
    assert len(slack.calls("chat.postMessage")) == 1
    print(f"\nnotification click: canary at 0 replicas after {at_zero:.2f}s")
