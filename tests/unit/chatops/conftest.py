"""The chat-ops HTTP server on loopback with a fake Actor, and Slack's loopback stand-in.

Everything but the Actor is the real thing: the server, the verifier, the
dispatcher's workers and the ``response_url`` replies through ``slack_sdk``.
The fake Actor records what it was asked and answers with canned outcomes,
optionally slowly (an API server under load).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from controller.chatops.acting import Outcome
from controller.chatops.commands import Command
from controller.chatops.dispatch import Dispatcher
from controller.chatops.identities import Identity, slack_key
from controller.chatops.server import ChatopsServer, SlackEndpoints, serve
from controller.chatops.slack.replies import Responder
from controller.chatops.slack.verifying import RequestVerifier
from tests.support.slack import SECRET, TEAM, SlackStandIn

ALICE = Identity(user="alice", groups=("payments-oncall",))


@dataclass
class Call:
    command: Command
    identity: Identity | None
    who: str


@dataclass
class FakeActor:
    """Records each command; answers done for mapped people, unless told otherwise."""

    delay: float = 0.0
    calls: list[Call] = field(default_factory=list)
    outcome: Outcome | None = None
    fail: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def act(self, command: Command, identity: Identity | None, *, who: str) -> Outcome:
        with self.lock:
            self.calls.append(Call(command, identity, who))
        if self.delay:
            time.sleep(self.delay)
        if self.fail:
            raise RuntimeError("the API server went away")
        if self.outcome is not None:
            return self.outcome
        if identity is None:
            return Outcome(done=False, text=f"Sorry, {who} is not mapped to a Kubernetes user")
        return Outcome(done=True, text=f"Requested {command.verb.value} of {command.target} "
                                       f"(as {who})")  # fmt: skip


@dataclass
class FakeDirectory:
    identities: dict[str, Identity] = field(
        default_factory=lambda: {str(slack_key(TEAM, "U0ALICE")): ALICE}
    )

    def lookup(self, key: str) -> Identity | None:
        return self.identities.get(key)


@dataclass
class Bot:
    """The server under test, its parts, and the Slack stand-in."""

    url: str
    actor: FakeActor
    slack: SlackStandIn
    verifier: RequestVerifier
    dispatcher: Dispatcher
    server: ChatopsServer

    @property
    def commands(self) -> str:
        return f"{self.url}/slack/commands"

    @property
    def interactions(self) -> str:
        return f"{self.url}/slack/interactions"


@pytest.fixture
def slack() -> Iterator[SlackStandIn]:
    stand_in = SlackStandIn().start()
    yield stand_in
    stand_in.stop()


def start_bot(slack: SlackStandIn, *, workers: int = 8, queue: int = 64, delay: float = 0) -> Bot:
    actor = FakeActor(delay=delay)
    dispatcher = Dispatcher(
        actor=actor,
        directory=FakeDirectory(),
        responder=Responder(api_url=slack.api_url, timeout=5),
        workers=workers,
        queue=queue,
    )
    verifier = RequestVerifier(SECRET)
    endpoints = SlackEndpoints(verifier=verifier, api_url=slack.api_url, dispatcher=dispatcher)
    server = serve("127.0.0.1:0", slack=endpoints)
    host, port = server.server_address[:2]
    return Bot(f"http://{host!s}:{port}", actor, slack, verifier, dispatcher, server)


def stop_bot(bot: Bot) -> None:
    bot.server.shutdown()
    bot.server.server_close()
    bot.dispatcher.shutdown(wait=True)


@pytest.fixture
def bot(slack: SlackStandIn) -> Iterator[Bot]:
    started = start_bot(slack)
    yield started
    stop_bot(started)
