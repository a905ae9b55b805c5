"""Which Rollouts notify where: the ``landinggear.dev/notify`` annotation (pure).

A Rollout asks for notifications with an annotation naming destinations the
admin configured in the ``landinggear chatops`` process — never a URL or a
channel id of its own choosing, so a Rollout's author cannot make the bot post
to a place (or sign for a receiver) the admin did not set up::

    metadata:
      annotations:
        landinggear.dev/notify: "slack, slack:#deploys, teams:payments, webhook:audit"

Destinations, comma-separated, each ``KIND`` or ``KIND:NAME``:

``slack``
    the channel of ``--slack-channel C0123…`` (needs ``--slack-token-file``);
``slack:NAME``
    a channel of ``--slack-channels NAME=C0123…[,NAME=…]`` (a leading ``#`` is
    ignored, so ``slack:#deploys`` reads as ``deploys``);
``teams:NAME``
    an incoming-webhook or Workflows URL from ``--teams-webhooks-file`` (lines
    ``NAME=URL``: the URLs are secrets, so they live in a mounted file);
``webhook``
    the URL of ``--webhook-url``, signed with the key in ``--webhook-secret-file``;
``webhook:NAME``
    a URL of ``--notify-webhooks NAME=URL[,NAME=URL…]``, signed with the key in
    ``--webhook-secret-file``;
``matrix``
    every room of ``--matrix-room`` the bot reads (one message per room, edited
    in place).

A destination the process was not configured with is logged and skipped; the
others still get their messages. No annotation: no notifications.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

__all__ = ["KINDS", "NOTIFY_ANNOTATION", "destinations", "key", "pairs"]

NOTIFY_ANNOTATION = "landinggear.dev/notify"
KINDS = ("slack", "teams", "webhook", "matrix")
_UNNAMED = ("slack", "webhook", "matrix")
"""Kinds that may be named alone (their default destination)."""
_NAME = re.compile(r"[a-z0-9]([-a-z0-9_.]*[a-z0-9])?")
_MAX = 16


def key(kind: str, name: str = "") -> str:
    """The one spelling of a destination: ``slack``, ``slack:deploys``, ``teams:payments``."""
    return f"{kind}:{name}" if name else kind


def destinations(annotations: Mapping[str, str] | None) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(the destination keys the annotation names, in order and once each; the words that
    are not destinations at all). Never raises."""
    raw = (annotations or {}).get(NOTIFY_ANNOTATION)
    if not isinstance(raw, str):
        return (), ()
    found: dict[str, None] = {}
    bad: list[str] = []
    for word in (w.strip() for w in raw.split(",")):
        if not word:
            continue
        kind, colon, name = word.partition(":")
        kind, name = kind.strip().lower(), name.strip().lower()
        if kind == "slack":
            name = name.removeprefix("#")
        named_well = bool(_NAME.fullmatch(name)) and len(name) <= 80
        wrong = (
            kind not in KINDS
            or (name and not named_well)
            or (not name and (kind not in _UNNAMED or bool(colon)))
            or (kind == "matrix" and name)  # the bot's rooms, not named per Rollout
        )
        if wrong:
            bad.append(word[:80])
        elif len(found) < _MAX:
            found[key(kind, name)] = None
    return tuple(found), tuple(bad)


def pairs(text: str, *, what: str, separator: str = ",") -> dict[str, str]:
    """``NAME=VALUE`` pairs (``--slack-channels``, a Teams webhooks file); ValueError names
    the first bad one without echoing its value (it may be a secret URL)."""
    out: dict[str, str] = {}
    for n, item in enumerate((i.strip() for i in text.split(separator)), start=1):
        if not item or (separator == "\n" and item.startswith("#")):
            continue  # a blank entry, or a comment line in a file
        name, sep, value = item.partition("=")
        name = name.strip().lower().removeprefix("#")
        if not sep or not _NAME.fullmatch(name) or not value.strip():
            raise ValueError(f"{what}: entry {n} is not NAME=VALUE")
        if name in out:
            raise ValueError(f"{what}: {name} is named twice")
        out[name] = value.strip()
    return out
