"""The real Matrix homeserver the chat-ops tests run against (``e2e.matrix``), and the
``matrix-nio`` client that plays the on-call engineer in them."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from e2e.matrix import SynapseServer
from e2e.matrix.client import ChatError, ChatUser
from tests.support.aio import synchronously
from tests.support.matrix import account, inet_sockets


def test_synapse_serves_the_client_api_on_loopback_only(synapse: SynapseServer) -> None:
    assert synapse.alive()
    assert synapse.url.startswith("http://127.0.0.1:")
    versions = httpx.get(f"{synapse.url}/_matrix/client/versions").raise_for_status().json()
    assert "v1.11" in versions["versions"]
    (pid,) = synapse.pids
    sockets = inet_sockets(pid)
    assert sockets, "Synapse holds no socket at all?"
    assert [s for s in sockets if not s.loopback_only()] == []
    # no federation listener: the federation API is not served
    federation = httpx.get(f"{synapse.url}/_matrix/federation/v1/version")
    assert federation.status_code in {400, 404}


def test_shared_secret_registration_makes_working_accounts(synapse: SynapseServer) -> None:
    admin = account(synapse, "admin", admin=True)
    user = account(synapse, "engineer")
    assert user.user_id.startswith("@engineer-")
    assert user.user_id.endswith(f":{synapse.server_name}")

    def get(path: str, token: str) -> httpx.Response:
        return httpx.get(f"{synapse.url}{path}", headers={"Authorization": f"Bearer {token}"})

    whoami = get("/_matrix/client/v3/account/whoami", user.access_token).raise_for_status()
    assert whoami.json()["user_id"] == user.user_id
    user_admin_api = f"/_synapse/admin/v2/users/{user.user_id}"
    assert get(user_admin_api, admin.access_token).json()["admin"] is False
    assert get(user_admin_api, user.access_token).status_code == 403


def test_public_registration_is_closed(synapse: SynapseServer) -> None:
    response = httpx.post(
        f"{synapse.url}/_matrix/client/v3/register",
        json={"username": "walk-in", "password": "pw", "auth": {"type": "m.login.dummy"}},
    )
    assert response.status_code == 403


@synchronously
async def test_engineer_sees_command_answer_in_thread_and_its_edit(
    synapse: SynapseServer,
) -> None:
    bot_account, engineer_account = account(synapse, "bot"), account(synapse, "oncall")
    async with (
        ChatUser(synapse.url, bot_account) as bot,
        ChatUser(synapse.url, engineer_account) as engineer,
    ):
        room = await bot.create_room(name="incidents", invite=[engineer.user_id])
        await engineer.wait_for_invite(room)
        await engineer.join(room)
        assert room in await engineer.joined_rooms()

        command = await engineer.send_text(room, "!landinggear rollback ns/web")
        seen = await bot.wait_for(room, lambda m: m.body.startswith("!landinggear"))
        assert (seen.event_id, seen.sender) == (command, engineer.user_id)

        answer = await bot.send_text(room, "Rolling back ns/web…", thread_root=command)
        reply = await engineer.wait_for(room, lambda m: m.thread_root == command)
        assert (reply.event_id, reply.body, reply.edited) == (answer, "Rolling back ns/web…", False)

        await bot.edit(room, answer, "Rolled back ns/web to revision 3")
        edited = await engineer.wait_for(room, lambda m: m.event_id == answer and m.edited)
        assert edited.body == "Rolled back ns/web to revision 3"
        assert edited.thread_root == command
        # shown once, in place: the edit is not a message of its own
        conversation = await engineer.conversation(room)
        assert [m.event_id for m in conversation] == [command, answer]
        assert await engineer.thread(room, command) == [edited]
        # the raw timeline holds the edit as an m.replace of the answer
        (edit,) = [m for m in await engineer.timeline(room) if m.replaces]
        assert (edit.replaces, edit.sender) == (answer, bot.user_id)


@synchronously
async def test_an_edit_by_someone_else_does_not_change_a_message(synapse: SynapseServer) -> None:
    async with (
        ChatUser(synapse.url, account(synapse, "bot")) as bot,
        ChatUser(synapse.url, account(synapse, "oncall")) as engineer,
    ):
        room = await bot.create_room(name="incidents", invite=[engineer.user_id])
        await engineer.wait_for_invite(room)
        await engineer.join(room)
        status = await bot.send_text(room, "Promoted ns/web")
        await engineer.edit(room, status, "Nothing happened")
        await engineer.wait_for(room, lambda m: m.event_id == status)
        (shown,) = await engineer.conversation(room)
        assert (shown.body, shown.edited) == ("Promoted ns/web", False)


@synchronously
async def test_a_burst_of_messages_arrives_whole_and_in_order(synapse: SynapseServer) -> None:
    async with (
        ChatUser(synapse.url, account(synapse, "bot")) as bot,
        ChatUser(synapse.url, account(synapse, "oncall")) as engineer,
    ):
        room = await bot.create_room(name="burst", invite=[engineer.user_id])
        await engineer.wait_for_invite(room)
        await engineer.join(room)
        # well past Synapse's default message rate limit (a burst of 10, then 0.2/s)
        for n in range(60):
            await bot.send_text(room, f"step {n}")
        await engineer.wait_for(room, lambda m: m.body == "step 59")
        bodies = [m.body for m in await engineer.conversation(room)]
        assert bodies == [f"step {n}" for n in range(60)]


@synchronously
async def test_a_room_the_user_is_not_in_stays_invisible(synapse: SynapseServer) -> None:
    async with (
        ChatUser(synapse.url, account(synapse, "bot")) as bot,
        ChatUser(synapse.url, account(synapse, "outsider")) as outsider,
    ):
        private = await bot.create_room(name="private")
        await bot.send_text(private, "secret rollout notes")
        await bot.wait_for(private, lambda m: m.body == "secret rollout notes")

        assert private not in await outsider.joined_rooms()
        assert private not in await outsider.invites()
        with pytest.raises(ChatError) as refused:
            await outsider.timeline(private)
        assert refused.value.code == "M_FORBIDDEN"
        with pytest.raises(ChatError):
            await outsider.send_text(private, "let me in")


def test_a_restarted_server_keeps_its_accounts(tmp_path: Path) -> None:
    server = SynapseServer(tmp_path / "synapse").start()
    try:
        kept = server.register("kept")
        server.stop()
        assert not server.alive()
        assert server.pids == []
        server.start()
        assert server.alive()
        whoami = httpx.get(
            f"{server.url}/_matrix/client/v3/account/whoami",
            headers={"Authorization": f"Bearer {kept.access_token}"},
        )
        assert whoami.raise_for_status().json()["user_id"] == kept.user_id
    finally:
        server.stop(remove_workdir=True)
    assert not (tmp_path / "synapse").exists()
