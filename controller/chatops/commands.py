"""What a person typed in chat, read as a command on one Rollout (pure).

Both chat networks carry the same words: Slack's slash command
``/landinggear <verb> <namespace>/<rollout> [reason…]`` (Slack hands us the text
after the command) and a Matrix message ``!landinggear <verb> <namespace>/<rollout>
[reason…]``. Verbs: ``status``, ``promote``, ``pause``, ``resume``, ``abort``,
``rollback``, ``retry`` and ``flags off`` (the kill switch without a rollback;
``flags off ns/web [flag…] -- reason`` names flags before an optional ``--``).

:func:`parse` never raises: it returns a :class:`Command` or a :class:`Refusal`
whose ``message`` is what the bot answers, politely, with the usage. Names are
checked against Kubernetes' rules (a namespace is a DNS label, a Rollout a DNS
subdomain), so nothing malformed ever reaches the API server.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

__all__ = ["MATRIX_PREFIX", "USAGE", "Command", "Refusal", "Verb", "parse"]

MATRIX_PREFIX = "!landinggear"
MAX_REASON = 512
_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_FLAG = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")


class Verb(StrEnum):
    STATUS = "status"
    PROMOTE = "promote"
    PAUSE = "pause"
    RESUME = "resume"
    ABORT = "abort"
    ROLLBACK = "rollback"
    RETRY = "retry"
    FLAGS_OFF = "flags-off"

    @property
    def changes(self) -> bool:
        """Whether it changes the Rollout (and so needs ``patch`` on it)."""
        return self is not Verb.STATUS

    @property
    def words(self) -> str:
        return "flags off" if self is Verb.FLAGS_OFF else self.value


USAGE = (
    "usage: <verb> <namespace>/<rollout> [reason…] with verb one of "
    + ", ".join(v.words for v in Verb)
    + "; e.g. `rollback payments/checkout error rate after deploy`"
)


@dataclass(frozen=True, kw_only=True)
class Command:
    verb: Verb
    namespace: str
    rollout: str
    reason: str = ""
    flags: tuple[str, ...] = ()
    """``flags off``: the named flags (none: every flag of the Rollout)."""

    @property
    def target(self) -> str:
        return f"{self.namespace}/{self.rollout}"


@dataclass(frozen=True)
class Refusal:
    message: str


def parse(text: str, *, prefix: str = "") -> Command | Refusal:
    """Read ``text`` (after ``prefix``, e.g. :data:`MATRIX_PREFIX`, if given)."""
    words = _words(text, prefix)
    if isinstance(words, Refusal):
        return words
    head = _verb(words)
    if isinstance(head, Refusal):
        return head
    verb, rest = head
    if not rest:
        return Refusal(f"{verb.words} needs a rollout: {verb.words} <namespace>/<rollout>")
    target = _target(rest[0])
    if isinstance(target, Refusal):
        return target
    tail = _flags_and_reason(verb, rest[1:])
    if isinstance(tail, Refusal):
        return tail
    flags, reason = tail
    namespace, rollout = target
    return Command(verb=verb, namespace=namespace, rollout=rollout, reason=reason, flags=flags)


def _words(text: str, prefix: str) -> list[str] | Refusal:
    words = text.split()
    if prefix:
        if not words or words[0] != prefix:
            return Refusal(f"not a command: it must start with {prefix}")
        words = words[1:]
    if not words or words[0] in ("help", "-h", "--help"):
        return Refusal(USAGE)
    return words


def _verb(words: list[str]) -> tuple[Verb, list[str]] | Refusal:
    verb_word, rest = words[0].lower(), words[1:]
    if verb_word == "flags":
        if not rest or rest[0].lower() != "off":
            return Refusal(f"`flags` takes `off`: `flags off <namespace>/<rollout>`. {USAGE}")
        verb_word, rest = "flags-off", rest[1:]
    try:
        return Verb(verb_word), rest
    except ValueError:
        return Refusal(f"unknown verb {_quote(words[0])}. {USAGE}")


def _flags_and_reason(verb: Verb, tail: list[str]) -> tuple[tuple[str, ...], str] | Refusal:
    flags: tuple[str, ...] = ()
    if verb is Verb.FLAGS_OFF:
        cut = tail.index("--") if "--" in tail else len(tail)
        named, tail = tail[:cut], tail[cut + 1 :]
        bad = [f for f in named if not _FLAG.fullmatch(f) or len(f) > 63]
        if bad:
            return Refusal(
                f"{_quote(bad[0])} is not a flag name; put a reason after `--`: "
                "flags off <namespace>/<rollout> [flag…] -- <reason>"
            )
        flags = tuple(dict.fromkeys(named))
    reason = " ".join(tail)
    if len(reason) > MAX_REASON:
        return Refusal(f"the reason is {len(reason)} characters long; {MAX_REASON} at most")
    if verb is Verb.STATUS and reason:
        return Refusal("status takes no reason: status <namespace>/<rollout>")
    return flags, reason


def _target(word: str) -> tuple[str, str] | Refusal:
    if word.count("/") != 1:
        return Refusal(
            f"{_quote(word)} is not <namespace>/<rollout>: name the namespace too, "
            "e.g. payments/checkout"
        )
    namespace, rollout = word.split("/")
    if not (_LABEL.fullmatch(namespace) and len(namespace) <= 63):
        return Refusal(f"{_quote(namespace)} is not a namespace name")
    if not (_SUBDOMAIN.fullmatch(rollout) and len(rollout) <= 253):
        return Refusal(f"{_quote(rollout)} is not a rollout name")
    return namespace, rollout


def _quote(word: str) -> str:
    """``word`` shown back safely: printable, short, in backquotes."""
    shown = "".join(c if c.isprintable() and c != "`" else "?" for c in word)[:64]
    return f"`{shown}`"
