"""A verified command is acked at once, carried out by a worker, and its outcome posted to
``response_url``: to the channel when something changed, privately otherwise."""

from __future__ import annotations

import json
import statistics
import threading
import time

from controller.chatops.acting import Outcome
from controller.chatops.commands import Command, Verb
from controller.chatops.server import BUSY
from tests.support.slack import SlackStandIn, click_body, command_body, post, signed_headers
from tests.unit.chatops.conftest import ALICE, Bot, start_bot, stop_bot


def test_a_slash_command_is_acked_then_its_outcome_shown_to_the_channel(bot: Bot) -> None:
    url = bot.slack.response_url()
    body = command_body("abort payments/checkout errors after deploy", response_url=url)
    status, answer = post(bot.commands, body, signed_headers(body))
    assert status == 200
    assert json.loads(answer) == {
        "response_type": "ephemeral",
        "text": "Working on it: abort payments/checkout…",
        "replace_original": False,
    }
    reply = bot.slack.wait_reply(url)
    assert reply["response_type"] == "in_channel"
    assert reply["replace_original"] is False
    assert reply["text"] == (
        "Requested abort of payments/checkout (as slack:alice): errors after deploy"
    )
    [call] = bot.actor.calls
    assert call.command == Command(verb=Verb.ABORT, namespace="payments", rollout="checkout",
                                   reason="errors after deploy")  # fmt: skip
    assert call.identity == ALICE
    assert call.who == "slack:alice"


def test_a_click_carries_out_the_buttons_command(bot: Bot) -> None:
    url = bot.slack.response_url()
    body = click_body("rollback payments/checkout", response_url=url)
    status, answer = post(bot.interactions, body, signed_headers(body))
    assert status == 200
    assert "rollback payments/checkout" in json.loads(answer)["text"]
    assert bot.slack.wait_reply(url)["response_type"] == "in_channel"
    [call] = bot.actor.calls
    assert (call.command.verb, call.identity, call.who) == (Verb.ROLLBACK, ALICE, "slack:alice")


def test_refusals_and_status_are_answered_only_to_the_asker(bot: Bot) -> None:
    bot.actor.outcome = Outcome(done=False, text="Sorry, slack:alice may not patch it")
    refused = bot.slack.response_url(1)
    body = command_body("promote payments/checkout", response_url=refused)
    post(bot.commands, body, signed_headers(body))
    assert bot.slack.wait_reply(refused)["response_type"] == "ephemeral"
    bot.actor.outcome = Outcome(done=True, text="checkout  Paused  step 2/4")
    status = bot.slack.response_url(2)
    body = command_body("status payments/checkout", response_url=status)
    post(bot.commands, body, signed_headers(body))
    assert bot.slack.wait_reply(status) == {
        "response_type": "ephemeral", "text": "checkout  Paused  step 2/4",
        "replace_original": False,
    }  # fmt: skip


def test_an_odd_user_name_is_replaced_by_the_user_id(bot: Bot) -> None:
    url = bot.slack.response_url()
    body = command_body("pause payments/checkout", name="al ice\n", response_url=url)
    post(bot.commands, body, signed_headers(body))
    bot.slack.wait_reply(url)
    assert bot.actor.calls[0].who == "slack:U0ALICE"


def test_a_failing_worker_apologises_privately(bot: Bot) -> None:
    bot.actor.fail = True
    url = bot.slack.response_url()
    body = command_body("abort payments/checkout", response_url=url)
    assert post(bot.commands, body, signed_headers(body))[0] == 200
    reply = bot.slack.wait_reply(url)
    assert reply["response_type"] == "ephemeral"
    assert reply["text"].startswith("Sorry, something went wrong while I tried to abort")


def test_when_every_worker_is_busy_the_answer_says_so(slack: SlackStandIn) -> None:
    bot = start_bot(slack, workers=1, queue=0, delay=1.0)
    try:
        first, second = slack.response_url(1), slack.response_url(2)
        body = command_body("abort payments/checkout", response_url=first)
        assert (
            "Working on it" in json.loads(post(bot.commands, body, signed_headers(body))[1])["text"]
        )
        body = command_body("abort payments/other", response_url=second)
        status, answer = post(bot.commands, body, signed_headers(body))
        assert (status, json.loads(answer)["text"]) == (200, BUSY)
        slack.wait_reply(first)
        assert [c.command.rollout for c in bot.actor.calls] == ["checkout"]
        assert slack.replies(second) == []
    finally:
        stop_bot(bot)


def test_acks_come_within_three_seconds_while_the_work_is_slow(slack: SlackStandIn) -> None:
    """200 signed commands from 8 senders at once; each command takes the Actor 0.2 s."""
    bot = start_bot(slack, workers=8, queue=256, delay=0.2)
    latencies: list[float] = []
    lock = threading.Lock()
    try:

        def sender(offset: int) -> None:
            for n in range(offset, 200, 8):
                body = command_body("rollback payments/checkout",
                                    response_url=slack.response_url(n))  # fmt: skip
                headers = signed_headers(body)
                started = time.perf_counter()
                status, answer = post(bot.commands, body, headers)
                took = time.perf_counter() - started
                assert status == 200
                assert json.loads(answer)["text"].startswith("Working on it")
                with lock:
                    latencies.append(took)

        threads = [threading.Thread(target=sender, args=(i,)) for i in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert len(latencies) == 200
        cuts = statistics.quantiles(latencies, n=100)
        p50, p99 = cuts[49], cuts[98]
        slowest = max(latencies)
        print(
            f"\nack latency over 200 signed commands, worker slow: p50 {p50 * 1000:.1f} ms, "
            f"p99 {p99 * 1000:.1f} ms, max {slowest * 1000:.1f} ms"
        )
        assert p99 < 1.0  # Slack's limit is 3 s: a wide margin
        for n in range(200):
            slack.wait_reply(slack.response_url(n), timeout=30)
        assert len(bot.actor.calls) == 200
    finally:
        stop_bot(bot)


def test_a_hundred_concurrent_clicks_are_all_acked_and_answered(bot: Bot) -> None:
    statuses: list[int] = []
    lock = threading.Lock()
    barrier = threading.Barrier(100)
    bodies = [
        click_body("rollback payments/checkout", user=f"U0{n:03d}", name=f"user{n}",
                   response_url=bot.slack.response_url(n))
        for n in range(100)
    ]  # fmt: skip

    def click(n: int) -> None:
        headers = signed_headers(bodies[n])
        barrier.wait()
        status, _ = post(bot.interactions, bodies[n], headers)
        with lock:
            statuses.append(status)

    threads = [threading.Thread(target=click, args=(n,)) for n in range(100)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    acked = time.perf_counter() - started
    assert statuses == [200] * 100
    for n in range(100):
        bot.slack.wait_reply(bot.slack.response_url(n))
    assert len(bot.actor.calls) == 100
    print(f"\n100 concurrent clicks: all acked in {acked:.2f}s")
