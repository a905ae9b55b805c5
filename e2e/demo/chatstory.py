"""The story ``python -m e2e.demo.chat`` tells: a release held for a person, aborted from chat.

1. ``web`` v1 adopted by a Rollout annotated ``landinggear.dev/notify: matrix`` whose
   steps are 20 % → an untimed pause: every release waits there for a person (no
   analysis here: the person is the judge).
2. A local Synapse, a room ``#deploys`` made by the on-call engineer ``alice`` with the
   bot and ``bob`` in it; the bot runs as a ServiceAccount with the shipped rights.
   ``alice`` is mapped to Kubernetes user ``alice`` in group ``payments-oncall`` (which
   may patch Rollouts); ``bob`` to user ``bob``, who may not.
3. v2 fails 10 % of requests and is held at the pause; the bot posts its release note.
4. ``bob`` types the abort the note offers: refused politely, nothing changes.
5. ``alice`` types it: the answer in a thread, the canary scaled to 0, the traffic all
   back on v1, the note edited; each measured from the moment her message was sent.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import yaml

from e2e.demo.chatbot import ONCALL, ChatBot
from e2e.demo.recorder import Sample, Timeout
from e2e.demo.script import NAME, QUIET, REPLICAS, DemoFailed, Options, Shell, manifests
from e2e.demo.stack import Stack
from e2e.matrix import Account, SynapseServer
from e2e.matrix.client import ChatUser, Message

__all__ = ["ChatSummary", "render", "run"]

STEPS: list[dict[str, Any]] = [{"setWeight": 20}, {"pause": {}}]
ERROR_RATE = 0.1
ROOM = "deploys"
REASON = "errors in checkout"
SEEN_ERRORS = 10
"""Errors v2 answers before anyone types a command (what alice noticed)."""


@dataclass(frozen=True, kw_only=True)
class ChatSummary:
    """What the chat story measured; times in seconds on the demo's monotonic clock."""

    revision: str
    error_rate: float
    release_to_note: float
    """Release command → the bot's release note in the room (as alice's client reads it)."""
    refused: str
    """The bot's answer to bob."""
    refused_changed_nothing: bool
    answer: str
    """The bot's answer to alice, in the thread of her message."""
    to_answer: float
    """Alice's message sent → the answer in its thread (read by her client)."""
    to_canary_zero: float
    """Alice's message sent → the canary ReplicaSet at 0 replicas."""
    to_traffic_stable: float
    """Alice's message sent → the last request the canary answered (then 100 % on stable)."""
    to_aborted: float
    """Alice's message sent → the Rollout's phase Degraded (the abort recorded)."""
    stable_min_ready: int
    """The fewest Ready stable pods seen from the release to the end (the stable's size: 3)."""
    canary_served: int
    canary_errors: int
    edited_note: str
    requests_sent: int
    requests_unrouted: int
    processes: list[int] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def render(s: ChatSummary) -> str:
    """The summary as printed at the end of the demo."""
    return "\n".join([
        f"Release {s.revision} (fails {s.error_rate:.0%} of requests), held at the pause:",
        f"  release note in #{ROOM} {s.release_to_note:5.1f} s after the release command",
        f"  bob (no rights) refused: {s.refused!r}",
        f"  ... and nothing changed: {'yes' if s.refused_changed_nothing else 'NO'}",
        "alice's `!landinggear abort` sent →",
        f"  the bot's answer in her thread   {s.to_answer:5.2f} s",
        f"  canary at 0 replicas             {s.to_canary_zero:5.2f} s",
        f"  traffic 100 % on stable          {s.to_traffic_stable:5.2f} s"
        " (the last request the canary answered)",
        f"  the Rollout says Degraded        {s.to_aborted:5.2f} s",
        f"The stable kept at least {s.stable_min_ready} Ready pods throughout.",
        f"The canary answered {s.canary_served} requests, {s.canary_errors} with an error;",
        f"{s.requests_sent} requests sent in all, {s.requests_unrouted} found no Ready pod.",
        f"The release note now reads: {s.edited_note!r}",
    ])  # fmt: skip


def _who(user_id: str) -> str:
    return user_id.split(":", 1)[0].lstrip("@")


class ChatStory:
    """The acts, against a started stack and Synapse."""

    def __init__(self, options: Options, stack: Stack, synapse: SynapseServer) -> None:
        self.o = options
        self.stack = stack
        self.synapse = synapse
        self.sh = Shell(options)
        self.bot: ChatBot | None = None
        self.target = f"{options.namespace}/{NAME}"

    def say(self, text: str) -> None:
        print(f"\n== {text}", file=self.o.out, flush=True)

    def print(self, text: str = "") -> None:
        print(text, file=self.o.out, flush=True)

    def check(self) -> None:
        self.stack.check()
        if self.bot is not None:
            self.bot.check()

    def wait(self, what: str, done: Any, *, timeout: float, since: float | None = None) -> Sample:
        try:
            return self.stack.recorder.wait(
                what, done, timeout=timeout, since=since, check=self.check
            )
        except Timeout as err:
            raise DemoFailed(f"{err}; controller log: {self.stack.controller_log}") from None

    async def show_room(self, user: ChatUser, room: str) -> None:
        """The room as ``user``'s client shows it: threads indented, edits marked."""
        self.print(
            f"\n#{ROOM}:{self.synapse.server_name}, as {_who(user.user_id)}'s client shows it:"
        )
        for m in await user.conversation(room):
            lead = "      ↳ " if m.thread_root else "  "
            mark = " (edited)" if m.edited else ""
            lines = m.body.splitlines() or [""]
            self.print(f"{lead}{_who(m.sender)}{mark}: {lines[0]}")
            for line in lines[1:]:
                self.print(f"{' ' * len(lead)}  {line}")

    def deploy(self) -> tuple[str, dict[str, Any]]:
        app, rollout = manifests(network=self.stack.local is not None)
        rollout["metadata"]["annotations"] = {"landinggear.dev/notify": "matrix"}
        rollout["spec"]["strategy"] = {"canary": {"steps": STEPS}}
        self.say(f"web v1 ({REPLICAS} replicas), and a Rollout that waits for a person at 20 %")
        self.sh.kubectl(
            "apply", "-f", "-", stdin=json.dumps(app), shown="kubectl apply -f web.yaml"
        )
        self.print(yaml.safe_dump(rollout, sort_keys=False).rstrip())
        self.sh.kubectl(
            "apply", "-f", "-", stdin=json.dumps(rollout), shown="kubectl apply -f rollout.yaml"
        )
        sample = self.wait(
            "the controller to adopt the Deployment",
            lambda s: s.status.get("phase") == "Healthy" and bool(s.status.get("stableRevision")),
            timeout=60,
        )
        v1 = str(sample.status["stableRevision"])
        self.wait(
            f"traffic to v1 ({v1})",
            lambda s: s.served.get(v1) is not None and s.served[v1].sent > 0,
            timeout=30,
        )
        self.print(f"Adopted: v1 is revision {v1}, serving {self.o.rps:g} requests/s")
        return v1, rollout

    def release(self, v1: str) -> tuple[str, float]:
        self.say(f"Release v2: a new image that fails {ERROR_RATE:.0%} of requests")
        patch = {"spec": {"template": {"spec": {"containers": [
            {"name": NAME, "image": f"{NAME}:v2",
             "env": [{"name": "ERROR_RATE", "value": str(ERROR_RATE)}]}]}}}}  # fmt: skip
        released = time.monotonic()
        self.sh.kubectl("patch", f"deployment/{NAME}", "-p", json.dumps(patch))
        held = self.wait(
            "v2 held at the pause, serving",
            lambda s: (
                s.status.get("canaryRevision") not in (None, v1)
                and s.status.get("currentStepIndex") == 1
                and (c := s.served.get(str(s.status["canaryRevision"]))) is not None
                and c.sent > 0
            ),
            timeout=60,
            since=released,
        )
        v2 = str(held.status["canaryRevision"])
        self.print(f"Held: {held.line(metrics=False)}")
        return v2, released

    def unchanged(self, before: Sample, after: Sample, v2: str) -> bool:
        keys = ("phase", "canaryRevision", "stableRevision", "currentStepIndex", "canaryWeight")
        same = all(before.status.get(k) == after.status.get(k) for k in keys)
        history = [h for h in after.status.get("history") or [] if h.get("action") == "Aborted"]
        return (
            same
            and not history
            and before.replicasets.get(v2, (0, 0))[0] == after.replicasets.get(v2, (0, 0))[0] > 0
        )


async def run(options: Options, stack: Stack, synapse: SynapseServer) -> ChatSummary:
    """The acts against a started ``stack`` and ``synapse``; what was measured."""
    story = ChatStory(options, stack, synapse)
    v1, _ = story.deploy()
    traffic = stack.traffic
    sent0, unrouted0 = sum(c.sent for c in traffic.counts().values()), traffic.unrouted

    story.say(f"A local Matrix homeserver (Synapse at {synapse.url}): room #{ROOM}, the bot,"
              " alice (on call) and bob")  # fmt: skip
    bot_account, alice_account, bob_account = (
        synapse.register(n) for n in ("landinggear", "alice", "bob")
    )
    people: dict[str, str] = {
        alice_account.user_id: f"{{user: alice, groups: [{ONCALL}]}}",
        bob_account.user_id: "{user: bob, groups: []}",
    }
    story.print(
        f"Identities: {alice_account.user_id} → Kubernetes user alice in group {ONCALL}"
        f" (may patch Rollouts here); {bob_account.user_id} → user bob (may not)"
    )
    async with (
        ChatUser(synapse.url, alice_account) as alice,
        ChatUser(synapse.url, bob_account) as bob,
    ):
        invite = [bot_account.user_id, bob_account.user_id]
        room = await alice.create_room(name=ROOM, invite=invite, alias=ROOM)
        await bob.wait_for_invite(room)
        await bob.join(room)
        with ChatBot(
            options, homeserver=synapse.url, token=bot_account.access_token,
            room=f"#{ROOM}:{synapse.server_name}", people=people, log_dir=options.log_dir,
        ) as bot:  # fmt: skip
            story.bot = bot
            story.print(
                "The bot (`landinggear chatops`, as ServiceAccount landinggear-chatops with the"
                f" shipped rights) reads #{ROOM}; its log: {bot.log_file}"
            )
            summary = await _chat(
                story, alice=alice, bob=bob, room=room, bot_account=bot_account, v1=v1,
                sent0=sent0, unrouted0=unrouted0,
            )  # fmt: skip
            return replace(summary, processes=[bot.pid] if bot.pid else [])
    raise AssertionError("unreachable")  # pragma: no cover


async def _chat(
    story: ChatStory, *, alice: ChatUser, bob: ChatUser, room: str, bot_account: Account,
    v1: str, sent0: int, unrouted0: int,
) -> ChatSummary:  # fmt: skip
    stack, recorder = story.stack, story.stack.recorder
    v2, released = story.release(v1)
    command = f"!landinggear abort {story.target}"

    def from_bot(m: Message) -> bool:
        return m.sender == bot_account.user_id

    note = await alice.wait_for(room, lambda m: from_bot(m) and command in m.body, timeout=60)
    release_to_note = time.monotonic() - released
    await story.show_room(alice, room)
    seen = story.wait(
        f"v2 to answer {SEEN_ERRORS} requests with an error",
        lambda s: (c := s.served.get(v2)) is not None and c.errors + c.failed >= SEEN_ERRORS,
        timeout=60, since=released,
    )  # fmt: skip
    counts = seen.served[v2]
    story.print(
        f"\nMeanwhile v2 answered {counts.sent} requests, {counts.errors + counts.failed} of them"
        f" with an error ({seen.at - released:.1f} s after the release): someone should look."
    )

    story.say(f"bob, who may not patch Rollouts, types: {command} {REASON}")
    before = recorder.latest()
    asked = await bob.send_text(room, f"{command} {REASON}")
    refused = await bob.wait_for(room, lambda m: m.thread_root == asked, timeout=30)
    story.print(f"  ↳ {_who(refused.sender)}: {refused.body}")
    time.sleep(QUIET)  # had anything changed, the recorder would have seen it by now
    changed_nothing = story.unchanged(before, recorder.latest(), v2)
    story.print("Nothing changed: v2 is still held at 20 %." if changed_nothing
                else "Something changed after bob's refused command!")  # fmt: skip

    story.say(f"alice, on call, types: {command} {REASON}")
    sent_at = time.monotonic()
    sent = await alice.send_text(room, f"{command} {REASON}")
    answer = await alice.wait_for(room, lambda m: m.thread_root == sent, timeout=30)
    to_answer = time.monotonic() - sent_at
    story.print(f"  ↳ {_who(answer.sender)} ({to_answer:.2f} s later): {answer.body}")
    zero = story.wait(
        "the canary at 0 replicas",
        lambda s: s.replicasets.get(v2, (0, 0))[0] == 0,
        timeout=60, since=sent_at,
    )  # fmt: skip
    aborted = story.wait(
        "the Rollout Degraded (aborted)", lambda s: s.status.get("phase") == "Degraded",
        timeout=60, since=sent_at,
    )  # fmt: skip
    story.wait(
        f"{QUIET:g}s without a request to v2",
        lambda s: s.at - recorder.last_served(v2)[1] >= QUIET,
        timeout=30, since=zero.at,
    )  # fmt: skip
    served, last = recorder.last_served(v2)
    final = stack.traffic.counts().get(v2)
    edited = await alice.wait_for(
        room, lambda m: m.event_id == note.event_id and m.edited and command not in m.body,
        timeout=60,
    )  # fmt: skip
    await story.show_room(alice, room)

    story.say("What the controller says now")
    story.print(story.sh.landinggear("get", NAME).rstrip())
    return ChatSummary(
        revision=v2,
        error_rate=ERROR_RATE,
        release_to_note=release_to_note,
        refused=refused.body,
        refused_changed_nothing=changed_nothing,
        answer=answer.body,
        to_answer=to_answer,
        to_canary_zero=zero.at - sent_at,
        to_traffic_stable=last - sent_at,
        to_aborted=aborted.at - sent_at,
        stable_min_ready=min(
            s.replicasets.get(v1, (0, 0))[1] for s in recorder.history(released, time.monotonic())
        ),
        canary_served=served,
        canary_errors=(final.errors + final.failed) if final else 0,
        edited_note=edited.body.splitlines()[0],
        requests_sent=sum(c.sent for c in stack.traffic.counts().values()) - sent0,
        requests_unrouted=stack.traffic.unrouted - unrouted0,
    )
