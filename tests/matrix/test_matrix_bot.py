"""The Matrix bot against a real Synapse, with a fake Actor (no Kubernetes).

Everything but the Actor and the identities is the real thing: the bot's sync
loop, its workers, its answers, :class:`MatrixSink`, and a ``matrix-nio`` client
playing the on-call engineer. The fake Actor records each command and answers
with a canned outcome, the way the real one words it.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial

from controller.chatops.acting import Outcome
from controller.chatops.commands import Command, Verb
from controller.chatops.identities import Identity, matrix_key
from controller.chatops.matrix import MatrixApi, MatrixBot
from controller.chatops.matrix.bot import BUSY
from controller.chatops.notes import ReleaseNote
from e2e.matrix import Account, SynapseServer
from e2e.matrix.client import ChatUser, Message
from tests.support.aio import synchronously
from tests.support.matrix import account
from tests.support.waiting import eventually

ALICE = Identity(user="alice", groups=("payments-oncall",))


@dataclass
class Call:
    command: Command
    identity: Identity | None
    who: str


@dataclass
class FakeActor:
    """Records each command; done for mapped people, the Actor's refusal for the rest."""

    calls: list[Call] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    gate: threading.Event | None = None
    """When set, commands on ``ns/slow`` wait for it (an API server that hangs)."""

    def act(self, command: Command, identity: Identity | None, *, who: str) -> Outcome:
        with self.lock:
            self.calls.append(Call(command, identity, who))
        if self.gate is not None and command.target == "ns/slow":
            self.gate.wait(timeout=60)
        if identity is None:
            text = (
                f"Sorry, {who} is not mapped to a Kubernetes user, so I cannot "
                f"{command.verb.words} {command.target}."
            )
            return Outcome(done=False, text=text)
        text = f"Requested {command.verb.words} of rollout {command.target} (as {who})"
        return Outcome(done=True, text=text)

    def targets(self) -> list[str]:
        with self.lock:
            return [c.command.target for c in self.calls]


@dataclass
class FakeDirectory:
    identities: dict[str, Identity]

    def lookup(self, key: str) -> Identity | None:
        return self.identities.get(key)


@contextmanager
def running_bot(
    synapse: SynapseServer, bot: Account, rooms: Sequence[str], actor: FakeActor,
    identities: dict[str, Identity], *, workers: int = 4, queue: int = 16,
) -> Iterator[MatrixBot]:  # fmt: skip
    """The bot, started and reading its rooms; stopped (its commands answered) after."""
    matrix = MatrixBot(
        MatrixApi(synapse.url, bot.access_token), rooms=rooms, actor=actor,
        directory=FakeDirectory(identities), workers=workers, queue=queue, poll=5.0,
    )  # fmt: skip
    matrix.start()
    try:
        eventually(matrix.ready, timeout=30, what="the bot's first sync")
        yield matrix
    finally:
        matrix.stop(wait=True)


async def _room_with_bot(engineer: ChatUser, bot: Account, *, name: str) -> str:
    return await engineer.create_room(name=name, invite=[bot.user_id])


def _in_thread(root: str, message: Message) -> bool:
    return message.thread_root == root


@synchronously
async def test_an_abort_is_carried_out_for_the_sender_and_answered_in_a_thread(
    synapse: SynapseServer,
) -> None:
    bot_account, alice_account = account(synapse, "bot"), account(synapse, "alice")
    actor = FakeActor()
    identities = {str(matrix_key(alice_account.user_id)): ALICE}
    async with ChatUser(synapse.url, alice_account) as alice:
        room = await _room_with_bot(alice, bot_account, name="deploys")
        with running_bot(synapse, bot_account, [room], actor, identities):
            sent = await alice.send_text(room, "!landinggear abort payments/web errors in checkout")
            answer = await alice.wait_for(room, lambda m: m.thread_root == sent, timeout=30)

    (call,) = actor.calls
    assert call.command == Command(verb=Verb.ABORT, namespace="payments", rollout="web",
                                   reason="errors in checkout")  # fmt: skip
    assert call.who == f"matrix:{alice_account.user_id}"
    assert call.identity == ALICE
    assert answer.sender == bot_account.user_id
    assert answer.msgtype == "m.notice"
    assert answer.in_reply_to == sent
    assert answer.body == (f"Requested abort of rollout payments/web (as matrix:"
                           f"{alice_account.user_id}): errors in checkout")  # fmt: skip


@synchronously
async def test_an_unmapped_sender_is_refused_politely_in_the_thread(
    synapse: SynapseServer,
) -> None:
    bot_account, mallory_account = account(synapse, "bot"), account(synapse, "mallory")
    actor = FakeActor()
    async with ChatUser(synapse.url, mallory_account) as mallory:
        room = await _room_with_bot(mallory, bot_account, name="deploys")
        with running_bot(synapse, bot_account, [room], actor, {}):
            sent = await mallory.send_text(room, "!landinggear rollback payments/web")
            answer = await mallory.wait_for(room, lambda m: m.thread_root == sent, timeout=30)
    (call,) = actor.calls
    assert (call.command.verb, call.identity) == (Verb.ROLLBACK, None)
    assert answer.body.startswith(f"Sorry, matrix:{mallory_account.user_id} is not mapped")


@synchronously
async def test_other_rooms_edits_own_messages_and_history_are_ignored(
    synapse: SynapseServer,
) -> None:
    bot_account, alice_account = account(synapse, "bot"), account(synapse, "alice")
    actor = FakeActor()
    identities = {str(matrix_key(alice_account.user_id)): ALICE}
    async with (
        ChatUser(synapse.url, alice_account) as alice,
        ChatUser(synapse.url, bot_account) as bot_client,
    ):
        room = await _room_with_bot(alice, bot_account, name="deploys")
        other = await _room_with_bot(alice, bot_account, name="elsewhere")
        await alice.send_text(room, "!landinggear abort ns/before-start")
        with running_bot(synapse, bot_account, [room], actor, identities):
            await alice.send_text(other, "!landinggear abort ns/other-room")
            typed = await alice.send_text(room, "hello")
            await alice.edit(room, typed, "!landinggear abort ns/edited-in")
            command = await alice.send_text(room, "!landinggear pause ns/edited-away")
            await alice.edit(room, command, "!landinggear abort ns/edited-to")
            await bot_client.send_text(room, "!landinggear abort ns/own-message")
            await alice.send_text(room, "landinggear abort ns/no-prefix")
            usage = await alice.send_text(room, "!landinggear frobnicate ns/web")
            last = await alice.send_text(room, "!landinggear status ns/last")
            await alice.wait_for(room, lambda m: m.thread_root == last, timeout=30)
            usage_answer = await alice.wait_for(room, lambda m: m.thread_root == usage)
            assert other not in await bot_client.joined_rooms()

    # edited-away ran once, as first typed; everything else never reached the Actor
    assert actor.targets() == ["ns/edited-away", "ns/last"]
    assert usage_answer.body.startswith("unknown verb `frobnicate`")


@synchronously
async def test_in_a_room_joined_on_invite_commands_from_before_the_join_are_ignored(
    synapse: SynapseServer,
) -> None:
    bot_account, alice_account = account(synapse, "bot"), account(synapse, "alice")
    actor = FakeActor()
    identities = {str(matrix_key(alice_account.user_id)): ALICE}
    async with (
        ChatUser(synapse.url, alice_account) as alice,
        ChatUser(synapse.url, bot_account) as bot_client,
    ):
        room = await alice.create_room(name="deploys")  # invite-only, history shared
        with running_bot(synapse, bot_account, [room], actor, identities):
            await alice.send_text(room, "!landinggear abort ns/before-join")
            await alice.invite(room, bot_account.user_id)

            async def joined() -> bool:
                return room in await bot_client.joined_rooms()

            deadline = time.monotonic() + 30
            while not await joined():
                assert time.monotonic() < deadline, "the bot never accepted the invite"
            sent = await alice.send_text(room, "!landinggear status ns/after-join")
            await alice.wait_for(room, partial(_in_thread, sent), timeout=30)
    assert actor.targets() == ["ns/after-join"]


@synchronously
async def test_a_hung_command_does_not_stop_the_bot_reading_and_a_full_pool_says_busy(
    synapse: SynapseServer,
) -> None:
    bot_account, alice_account = account(synapse, "bot"), account(synapse, "alice")
    actor = FakeActor(gate=threading.Event())
    assert actor.gate is not None
    identities = {str(matrix_key(alice_account.user_id)): ALICE}
    async with ChatUser(synapse.url, alice_account) as alice:
        room = await _room_with_bot(alice, bot_account, name="deploys")
        with running_bot(synapse, bot_account, [room], actor, identities, workers=1, queue=0):
            slow = await alice.send_text(room, "!landinggear abort ns/slow")
            eventually(lambda: actor.targets() == ["ns/slow"], timeout=30, what="slow started")
            second = await alice.send_text(room, "!landinggear abort ns/second")
            busy = await alice.wait_for(room, partial(_in_thread, second), timeout=30)
            actor.gate.set()
            done = await alice.wait_for(room, partial(_in_thread, slow), timeout=30)
    assert busy.body == BUSY
    assert done.body.startswith("Requested abort of rollout ns/slow")
    assert actor.targets() == ["ns/slow"]


@synchronously
async def test_a_release_note_and_its_update_show_as_one_edited_message(
    synapse: SynapseServer,
) -> None:
    bot_account, alice_account = account(synapse, "bot"), account(synapse, "alice")
    async with ChatUser(synapse.url, alice_account) as alice:
        room = await _room_with_bot(alice, bot_account, name="deploys")
        with running_bot(synapse, bot_account, [room], FakeActor(), {}) as bot:
            (sink,) = bot.sinks()
            assert sink.name == f"matrix:{room}"
            note = ReleaseNote(
                namespace="payments", rollout="web", revision="abc123",
                headline="web: v2 (abc123) paused at step 2/4 for promotion",
                lines=("error rate 0.2 % (limit 1 %)",), actions=(Verb.PROMOTE, Verb.ABORT),
            )  # fmt: skip
            handle = sink.post(note)
            first = await alice.wait_for(room, lambda m: m.event_id == handle)
            assert first.body.splitlines() == [
                "web: v2 (abc123) paused at step 2/4 for promotion",
                "error rate 0.2 % (limit 1 %)",
                "Commands:",
                "  !landinggear promote payments/web",
                "  !landinggear abort payments/web",
            ]
            done = ReleaseNote(
                namespace="payments", rollout="web", revision="abc123",
                headline="web: v2 (abc123) aborted by matrix:@alice", done=True,
            )  # fmt: skip
            sink.update(handle, done)
            edited = await alice.wait_for(room, lambda m: m.event_id == handle and m.edited)
            shown = await alice.conversation(room)
    assert edited.body == "web: v2 (abc123) aborted by matrix:@alice"
    assert edited.msgtype == "m.notice"
    assert [m.event_id for m in shown] == [handle]


@synchronously
async def test_answers_arrive_quickly(synapse: SynapseServer) -> None:
    bot_account, alice_account = account(synapse, "bot"), account(synapse, "alice")
    identities = {str(matrix_key(alice_account.user_id)): ALICE}
    actor = FakeActor()
    took: list[float] = []
    async with ChatUser(synapse.url, alice_account) as alice:
        room = await _room_with_bot(alice, bot_account, name="deploys")
        with running_bot(synapse, bot_account, [room], actor, identities):
            for n in range(20):
                started = time.monotonic()
                sent = await alice.send_text(room, f"!landinggear pause ns/web-{n}")
                await alice.wait_for(room, partial(_in_thread, sent), timeout=30)
                took.append(time.monotonic() - started)
    assert len(actor.calls) == 20
    p50 = statistics.median(took)
    print(f"\nmessage sent → answer seen: p50 {p50 * 1000:.0f} ms, "
          f"max {max(took) * 1000:.0f} ms over {len(took)}")  # fmt: skip
    assert p50 < 2.0
