"""The identities ConfigMap: chat users to Kubernetes users and groups (pure)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from controller.chatops.identities import Identity, matrix_key, parse_identities, slack_key

pytestmark = pytest.mark.unit

CONFIGMAP_KEY = re.compile(r"[-._a-zA-Z0-9]+")


def test_keys_follow_the_documented_scheme() -> None:
    assert slack_key("T024BE7LD", "U0G9QF9C6") == "slack.T024BE7LD.U0G9QF9C6"
    assert slack_key("T0.x", "U1") is None
    assert matrix_key("@alice:example.org") == "matrix.alice_3aexample.org"
    assert (
        matrix_key("@ops_bot:chat.example.com:8448") == "matrix.ops_5fbot_3achat.example.com_3a8448"
    )
    assert matrix_key("alice:example.org") is None
    assert matrix_key("@alice") is None


localparts = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789._=-/+", min_size=1, max_size=20)
servers = st.from_regex(
    r"[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z]{2,6}){0,2}(:[0-9]{2,5})?", fullmatch=True
)


@given(st.tuples(localparts, servers), st.tuples(localparts, servers))
def test_no_two_matrix_users_share_a_key(a: tuple[str, str], b: tuple[str, str]) -> None:
    user_a, user_b = f"@{a[0]}:{a[1]}", f"@{b[0]}:{b[1]}"
    key_a, key_b = matrix_key(user_a), matrix_key(user_b)
    assert key_a is not None
    assert CONFIGMAP_KEY.fullmatch(key_a)
    if user_a != user_b:
        assert key_a != key_b


def test_a_configmap_is_read_and_bad_entries_are_named_not_fatal() -> None:
    data = {
        "slack.T1.U1": "{user: alice, groups: [payments-oncall, payments-oncall]}",
        "matrix.bob_3aexample.org": '{"user": "bob"}',
        "slack.T1.U2": "user: [not, a, name]",
        "slack.T1.U3": "{user: root, groups: ['system:masters']}",
        "slack.T1.U4": "{user: carol, role: admin}",
        "slack.T1.U5": ": not yaml : [",
        "github.alice": "{user: alice}",
        "slack.T1.U6": "just-a-string",
    }
    found, problems = parse_identities(data)
    assert found == {
        "slack.T1.U1": Identity(user="alice", groups=("payments-oncall",)),
        "matrix.bob_3aexample.org": Identity(user="bob"),
    }
    text = "\n".join(problems)
    assert "slack.T1.U2: user must be" in text
    assert "slack.T1.U3: system: users and groups cannot be mapped" in text
    assert "slack.T1.U4: unknown field 'role'" in text
    assert "slack.T1.U5: not YAML" in text
    assert "github.alice: not a slack" in text
    assert "slack.T1.U6: must be a mapping" in text
    assert len(problems) == 6
