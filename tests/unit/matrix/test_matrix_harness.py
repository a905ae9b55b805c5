"""The pure parts of the Matrix harness (``e2e.matrix``): the registration MAC, the
test config Synapse runs with, and how a chat client folds edits into messages."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path
from typing import Any

from e2e.matrix.client import Message, conversation, message_from_event
from e2e.matrix.server import registration_mac, synapse_config


def test_registration_mac_is_hmac_sha1_over_nul_separated_fields() -> None:
    # Synapse's documented recipe, spelt out independently
    mac = hmac.new(b"secret", digestmod=hashlib.sha1)
    for part in (b"abc", b"\x00", b"alice", b"\x00", b"pw", b"\x00", b"notadmin"):
        mac.update(part)
    assert (
        registration_mac("secret", nonce="abc", username="alice", password="pw", admin=False)
        == mac.hexdigest()
    )
    assert (
        registration_mac("secret", nonce="abc", username="alice", password="pw", admin=True)
        != mac.hexdigest()
    )


GENERATED: dict[str, Any] = {
    "server_name": "localhost",
    "listeners": [
        {"port": 8008, "bind_addresses": ["::1", "127.0.0.1"], "x_forwarded": True,
         "resources": [{"names": ["client", "federation"]}]},
    ],
    "trusted_key_servers": [{"server_name": "matrix.org"}],
    "macaroon_secret_key": "kept",
    "rc_message": {"per_second": 0.2, "burst_count": 10},
}  # fmt: skip


def _config() -> dict[str, Any]:
    return synapse_config(GENERATED, workdir=Path("/w"), port=4321, shared_secret="s3")


def test_config_listens_on_one_loopback_port_for_the_client_api_only() -> None:
    (listener,) = _config()["listeners"]
    assert listener["bind_addresses"] == ["127.0.0.1"]
    assert listener["port"] == 4321
    assert listener["x_forwarded"] is False
    assert [r["names"] for r in listener["resources"]] == [["client"]]


def test_config_reaches_no_other_server() -> None:
    config = _config()
    assert config["trusted_key_servers"] == []
    assert config["federation_domain_whitelist"] == []
    assert config["report_stats"] is False
    assert config["url_preview_enabled"] is False
    assert config["ip_range_blacklist"] == ["0.0.0.0/0", "::/0"]


def test_config_keeps_state_in_the_workdir_and_registration_behind_the_secret() -> None:
    config = _config()
    assert config["database"] == {"name": "sqlite3", "args": {"database": "/w/homeserver.db"}}
    assert config["media_store_path"] == "/w/media_store"
    assert config["registration_shared_secret"] == "s3"
    assert config["enable_registration"] is False
    assert config["macaroon_secret_key"] == "kept"


def test_config_raises_message_rate_limit_out_of_reach() -> None:
    assert _config()["rc_message"]["burst_count"] >= 10_000


def _event(event_id: str, sender: str, content: dict[str, Any]) -> dict[str, Any]:
    return {"type": "m.room.message", "event_id": event_id, "sender": sender, "content": content}


def _edit(event_id: str, sender: str, target: str, body: str) -> dict[str, Any]:
    return _event(event_id, sender, {
        "msgtype": "m.text", "body": f"* {body}", "m.new_content": {"body": body},
        "m.relates_to": {"rel_type": "m.replace", "event_id": target},
    })  # fmt: skip


def test_message_from_event_reads_threads_replies_and_edits() -> None:
    threaded = message_from_event(_event("$2", "@bot:l", {
        "msgtype": "m.notice", "body": "ok",
        "m.relates_to": {"rel_type": "m.thread", "event_id": "$1",
                         "m.in_reply_to": {"event_id": "$1"}},
    }))  # fmt: skip
    assert threaded == Message(
        event_id="$2", sender="@bot:l", body="ok", msgtype="m.notice",
        thread_root="$1", in_reply_to="$1",
    )  # fmt: skip
    edit = message_from_event(_edit("$3", "@bot:l", "$2", "done"))
    assert edit is not None
    assert (edit.body, edit.replaces, edit.thread_root) == ("done", "$2", None)
    assert message_from_event({"type": "m.room.member", "event_id": "$4", "content": {}}) is None


def test_conversation_applies_the_newest_edit_by_the_original_sender_in_place() -> None:
    timeline = [
        message_from_event(e)
        for e in [
            _event("$1", "@eng:l", {"msgtype": "m.text", "body": "!landinggear rollback ns/web"}),
            _event("$2", "@bot:l", {"msgtype": "m.text", "body": "Rolling back"}),
            _edit("$3", "@bot:l", "$2", "Rolled back"),
            _edit("$4", "@eng:l", "$2", "hijacked"),
            _edit("$5", "@bot:l", "$2", "Rolled back to revision 3"),
            _edit("$6", "@bot:l", "$gone", "edit of a message out of view"),
        ]
    ]
    shown = conversation(m for m in timeline if m is not None)
    assert [(m.event_id, m.body, m.edited) for m in shown] == [
        ("$1", "!landinggear rollback ns/web", False),
        ("$2", "Rolled back to revision 3", True),
    ]
