"""Chat commands read as Rollout commands; anything else is a polite refusal (pure)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from controller.chatops.commands import MATRIX_PREFIX, USAGE, Command, Refusal, Verb, parse

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("rollback payments/checkout", Command(verb=Verb.ROLLBACK, namespace="payments",
                                               rollout="checkout")),
        ("Abort shop/web error rate after deploy",
         Command(verb=Verb.ABORT, namespace="shop", rollout="web",
                 reason="error rate after deploy")),
        ("status shop/web.v2", Command(verb=Verb.STATUS, namespace="shop", rollout="web.v2")),
        ("flags off shop/web", Command(verb=Verb.FLAGS_OFF, namespace="shop", rollout="web")),
        ("flags off shop/web new-checkout fast-search -- tickets piling up",
         Command(verb=Verb.FLAGS_OFF, namespace="shop", rollout="web",
                 flags=("new-checkout", "fast-search"), reason="tickets piling up")),
        ("  promote   shop/web  ", Command(verb=Verb.PROMOTE, namespace="shop", rollout="web")),
    ],
)  # fmt: skip
def test_commands_are_read(text: str, expected: Command) -> None:
    assert parse(text) == expected


def test_matrix_messages_need_the_prefix() -> None:
    assert parse("!landinggear pause shop/web", prefix=MATRIX_PREFIX) == Command(
        verb=Verb.PAUSE, namespace="shop", rollout="web"
    )
    assert isinstance(parse("pause shop/web", prefix=MATRIX_PREFIX), Refusal)
    assert isinstance(parse("!landinggearpause shop/web", prefix=MATRIX_PREFIX), Refusal)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "usage"),
        ("help", "usage"),
        ("destroy shop/web", "unknown verb `destroy`"),
        ("rollback", "needs a rollout"),
        ("rollback web", "name the namespace too"),
        ("rollback a/b/c", "is not <namespace>/<rollout>"),
        ("rollback Shop/web", "`Shop` is not a namespace name"),
        ("rollback shop/-web", "`-web` is not a rollout name"),
        ("flags shop/web", "`flags` takes `off`"),
        ("flags off shop/web Not_A_Flag", "is not a flag name"),
        ("status shop/web now please", "status takes no reason"),
        ("abort shop/web " + "x" * 600, "512 at most"),
        ("rollback `evil`\x07/x", "is not"),
    ],
)
def test_anything_else_is_refused_with_what_to_type(text: str, says: str) -> None:
    refused = parse(text)
    assert isinstance(refused, Refusal)
    assert says in refused.message
    assert "\x07" not in refused.message


def test_the_usage_lists_every_verb() -> None:
    for verb in Verb:
        assert verb.words in USAGE
    assert Verb.STATUS.changes is False
    assert all(v.changes for v in Verb if v is not Verb.STATUS)


@given(st.text(max_size=300))
def test_any_text_is_a_command_on_a_valid_name_or_a_refusal(text: str) -> None:
    result = parse(text)
    if isinstance(result, Refusal):
        assert result.message
        assert all(c.isprintable() for c in result.message)
        return
    assert result.namespace
    assert result.rollout
    assert len(result.reason) <= 512
    assert "/" not in result.namespace + result.rollout
