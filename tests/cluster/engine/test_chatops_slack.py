"""Slack commands and clicks through the real ``landinggear chatops`` process, on the real
API server, with a real controller process.

The bot runs as a ServiceAccount holding exactly the shipped chat-ops rights
(``manifests/chatops/rbac.yaml``: its ClusterRole, and the Role on the identities
ConfigMap, here in the test's namespace), so these tests also show that those
rights are enough and that the person's own RBAC decides. Slack's servers cannot be
reached here: requests are signed exactly as Slack signs them (the SDK's helper)
and sent to the bot over loopback; ``response_url`` is a loopback stand-in
(:class:`tests.support.slack.SlackStandIn`) that records the replies.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.chatops import chatops_events, paused_canary
from tests.support.chatops_bot import Bot, slack_bot
from tests.support.scenario import Harness
from tests.support.waiting import eventually

IDENTITIES = "landinggear-chatops-identities"
ACCOUNT = "landinggear-chatops"


@pytest.fixture
def bot(harness: Harness, tmp_path: Path) -> Iterator[Bot]:
    with slack_bot(harness, tmp_path) as started:
        yield started


def _stable_at_full_size(harness: Harness, stable: str) -> None:
    harness.wait_status("rolled back", phase="Degraded", stableRevision=stable, timeout=30)
    eventually(lambda: harness.replica_sets().get(stable) == (2, 2), timeout=30,
               what="stable back at full size")  # fmt: skip


def test_a_signed_slash_command_aborts_and_the_channel_is_told(harness: Harness, bot: Bot) -> None:
    stable = paused_canary(harness)
    ns = harness.namespace

    asked = time.monotonic()
    status, ack, url = bot.command(f"abort {ns}/web errors in checkout", user="U0ALICE",
                                   name="alice", n=1)  # fmt: skip
    acked = time.monotonic() - asked
    assert status == 200
    assert ack == {"response_type": "ephemeral", "replace_original": False,
                   "text": f"Working on it: abort {ns}/web…"}  # fmt: skip
    reply = bot.slack.wait_reply(url, timeout=30)
    assert reply["response_type"] == "in_channel"
    assert (
        reply["text"] == f"Requested abort of rollout {ns}/web (as slack:alice): errors in checkout"
    )
    _stable_at_full_size(harness, stable)
    restored = time.monotonic() - asked
    aborted = [h for h in harness.status()["history"] if h["action"] == "Aborted"]
    assert aborted[-1]["by"] == "slack:alice"
    assert any(e.type == "Normal" and "slack:alice (as alice) requested abort" in e.note
               for e in chatops_events(harness))  # fmt: skip
    print(f"\nslash command: acked in {acked * 1000:.0f} ms; stable at full size after "
          f"{restored:.2f}s")  # fmt: skip


def test_unmapped_and_unauthorised_clicks_are_refused_and_change_nothing(
    harness: Harness, bot: Bot
) -> None:
    paused_canary(harness)
    ns = harness.namespace
    before = harness.rollout()

    status, unmapped = bot.click(f"abort {ns}/web", user="U0MALLORY", name="mallory", n=1)
    assert status == 200
    reply = bot.slack.wait_reply(unmapped, timeout=30)
    assert reply["response_type"] == "ephemeral"
    assert "slack:mallory is not mapped to a Kubernetes user" in reply["text"]

    status, unauthorised = bot.click(f"abort {ns}/web", user="U0BOB", name="bob", n=2)
    assert status == 200
    reply = bot.slack.wait_reply(unauthorised, timeout=30)
    assert reply["response_type"] == "ephemeral"
    assert "(Kubernetes user bob) may not patch rollout" in reply["text"]

    after = harness.rollout()
    assert after["metadata"].get("annotations") == before["metadata"].get("annotations")
    assert after["spec"] == before["spec"]
    warnings = [e for e in chatops_events(harness) if e.type == "Warning"]
    assert {e.reason for e in warnings} == {"AbortRefused"}
    assert {next(w for w in ("slack:mallory", "slack:bob") if w in e.note) for e in warnings} == {
        "slack:mallory", "slack:bob"}  # fmt: skip


def test_a_click_restores_the_stable_revision_at_full_size(harness: Harness, bot: Bot) -> None:
    stable = paused_canary(harness)
    clicked = time.monotonic()
    status, url = bot.click(f"abort {harness.namespace}/web", user="U0ALICE", name="alice", n=1)
    acked = time.monotonic() - clicked
    assert status == 200
    assert bot.slack.wait_reply(url, timeout=30)["response_type"] == "in_channel"
    _stable_at_full_size(harness, stable)
    restored = time.monotonic() - clicked
    print(f"\nclick: acked in {acked * 1000:.0f} ms; stable at full size after {restored:.2f}s")
