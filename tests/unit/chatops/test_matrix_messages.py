"""Which Matrix events are commands, the contents the bot sends, and the API client's
retries (``httpx.MockTransport``: no homeserver)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from controller.chatops.commands import Verb
from controller.chatops.matrix.api import MatrixApi, MatrixError
from controller.chatops.matrix.messages import (
    Incoming,
    commands_in,
    edit_content,
    invites_in,
    note_content,
    thread_reply,
)
from controller.chatops.notes import ReleaseNote

ME, ROOM, OTHER = "@bot:example.org", "!ops", "!elsewhere"


def _event(
    body: str, *, sender: str = "@alice:example.org", extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {"type": "m.room.message", "event_id": "$e1", "sender": sender,
            "content": {"msgtype": "m.text", "body": body, **(extra or {})}}  # fmt: skip


def _sync(*events: dict[str, Any], room: str = ROOM) -> dict[str, Any]:
    return {"next_batch": "s2", "rooms": {"join": {room: {"timeline": {"events": list(events)}}}}}


def _commands(sync: dict[str, Any]) -> list[Incoming]:
    return list(commands_in(sync, rooms={ROOM}, me=ME, known={ROOM, OTHER}))


def test_a_command_in_a_configured_room_is_read_with_its_thread() -> None:
    (found,) = _commands(_sync(_event("!landinggear abort ns/web oops")))
    assert found == Incoming(room_id=ROOM, event_id="$e1", sender="@alice:example.org",
                             body="!landinggear abort ns/web oops", thread_root="$e1")  # fmt: skip
    thread = {"m.relates_to": {"rel_type": "m.thread", "event_id": "$root"}}
    in_thread = _event("!landinggear status ns/web", extra=thread)
    (threaded,) = _commands(_sync(in_thread))
    assert threaded.thread_root == "$root"


@pytest.mark.parametrize(
    "event",
    [
        _event("!landinggear abort ns/web", sender=ME),
        _event("* !landinggear abort ns/web", extra={
            "m.new_content": {"msgtype": "m.text", "body": "!landinggear abort ns/web"},
            "m.relates_to": {"rel_type": "m.replace", "event_id": "$e0"}}),
        _event("!landinggear abort ns/web", extra={"m.relates_to": {"rel_type": "m.replace",
                                                                    "event_id": "$e0"}}),
        _event("!landinggear abort ns/web", extra={"msgtype": "m.notice"}),
        _event("!landinggearabort ns/web"),
        _event("landinggear abort ns/web"),
        {"type": "m.room.message", "event_id": "$e1", "sender": "@a:b", "content": {}},
        {"type": "m.room.encrypted", "event_id": "$e1", "sender": "@a:b", "content": {}},
        "not an event",
    ],
    ids=["own", "edit", "replace-without-new-content", "notice", "no-space", "no-bang",
         "redacted", "encrypted", "garbage"],
)  # fmt: skip
def test_what_is_not_a_command(event: Any) -> None:
    assert _commands(_sync(event)) == []


def test_in_a_room_just_joined_only_what_follows_the_bots_join_counts() -> None:
    join = {"type": "m.room.member", "state_key": ME, "sender": ME, "event_id": "$j",
            "content": {"membership": "join"}}  # fmt: skip
    before, after = _event("!landinggear abort ns/before"), _event("!landinggear abort ns/after")
    sync = _sync(before, join, after)
    assert [c.body for c in commands_in(sync, rooms={ROOM}, me=ME, known=set())] == [
        "!landinggear abort ns/after"
    ]
    assert list(commands_in(_sync(before), rooms={ROOM}, me=ME, known=set())) == []
    assert len(list(commands_in(sync, rooms={ROOM}, me=ME, known={ROOM}))) == 2


def test_other_rooms_are_not_read_and_their_invites_not_taken() -> None:
    assert _commands(_sync(_event("!landinggear abort ns/web"), room=OTHER)) == []
    sync: dict[str, Any] = {"rooms": {"invite": {OTHER: {}, ROOM: {}}}}
    assert invites_in(sync, rooms={ROOM}) == [ROOM]
    assert invites_in({}, rooms={ROOM}) == []


def test_the_answer_is_a_notice_in_the_commands_thread() -> None:
    incoming = Incoming(room_id=ROOM, event_id="$c", sender="@a:b", body="…", thread_root="$r")
    content = thread_reply(incoming, "Done")
    assert content["msgtype"] == "m.notice"
    assert content["m.relates_to"] == {"rel_type": "m.thread", "event_id": "$r",
                                       "is_falling_back": False,
                                       "m.in_reply_to": {"event_id": "$c"}}  # fmt: skip


def test_a_note_offers_its_commands_and_its_edit_replaces_it() -> None:
    note = ReleaseNote(namespace="ns", rollout="web", revision="r", headline="web <b>paused",
                       actions=(Verb.PROMOTE, Verb.FLAGS_OFF))  # fmt: skip
    content = note_content(note)
    assert content["body"].splitlines() == [
        "web <b>paused", "Commands:", "  !landinggear promote ns/web",
        "  !landinggear flags off ns/web",
    ]  # fmt: skip
    assert "web &lt;b&gt;paused" in content["formatted_body"]
    edit = edit_content("$n", content)
    assert edit["m.new_content"] == content
    assert edit["m.relates_to"] == {"rel_type": "m.replace", "event_id": "$n"}
    assert edit["body"] == "* " + content["body"]


def test_a_send_is_retried_under_one_transaction_id_and_a_429_waited_out() -> None:
    paths: list[str] = []
    answers: Iterator[httpx.Response | Exception] = iter([httpx.ConnectError("reset"),
                    httpx.Response(429, json={"errcode": "M_LIMIT_EXCEEDED",
                                              "retry_after_ms": 200}),
                    httpx.Response(200, json={"event_id": "$sent"})])  # fmt: skip
    slept: list[float] = []

    def handle(request: httpx.Request) -> httpx.Response:
        paths.append(request.url.path)
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        assert json.loads(request.content) == {"msgtype": "m.notice", "body": "hi"}
        return answer

    api = MatrixApi("http://hs", "t", sleep=slept.append, transport=httpx.MockTransport(handle))
    assert api.send("!r", {"msgtype": "m.notice", "body": "hi"}) == "$sent"
    assert len(paths) == 3
    assert len(set(paths)) == 1
    assert slept == [0.5, 0.2]


def test_a_refusal_is_a_matrix_error_with_its_code() -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(403, json={"errcode": "M_FORBIDDEN", "error": "not invited"})

    api = MatrixApi("http://hs", "t", transport=httpx.MockTransport(handle))
    with pytest.raises(MatrixError) as refused:
        api.join("!r")
    assert (refused.value.status, refused.value.errcode) == (403, "M_FORBIDDEN")
