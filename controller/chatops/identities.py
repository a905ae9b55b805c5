"""Who a chat user is in Kubernetes: the identities ConfigMap (pure).

The cluster's admin keeps one ConfigMap (``--identities NAMESPACE/CONFIGMAP``)
mapping chat identities to Kubernetes users and groups. Each key names one chat
user; each value is a YAML (or JSON) mapping ``{user: alice, groups: [payments-oncall]}``.
Before acting, the bot asks the API server (a SubjectAccessReview) whether that
user and those groups may ``patch`` the Rollout; an unmapped chat user is refused.

Keys (ConfigMap keys allow only letters, digits, ``-``, ``_`` and ``.``):

- Slack: ``slack.<team id>.<user id>``, e.g. ``slack.T024BE7LD.U0G9QF9C6`` (Slack's
  ids are letters and digits, so they are used as they are).
- Matrix: ``matrix.`` and the user id without its ``@``, every character other than
  a letter, a digit, ``.`` or ``-`` written ``_`` and its two hex digits (UTF-8
  bytes): ``@alice:example.org`` is ``matrix.alice_3aexample.org``;
  ``@ops_bot:chat.example.com:8448`` is ``matrix.ops_5fbot_3achat.example.com_3a8448``.
  The escape is one-to-one, so no two Matrix users share a key.
  ``landinggear chatops identity-key @alice:example.org`` prints it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import yaml

__all__ = ["Identity", "matrix_key", "parse_identities", "slack_key"]

_PLAIN = re.compile(r"[A-Za-z0-9.\-]")
_SLACK_ID = re.compile(r"[A-Z0-9]{1,32}")
_KEY = re.compile(r"[-._a-zA-Z0-9]{1,253}")
_NAME = re.compile(r"[^\x00-\x1f\x7f]{1,253}")


@dataclass(frozen=True, kw_only=True)
class Identity:
    """A Kubernetes user and its groups, as a SubjectAccessReview names them."""

    user: str
    groups: tuple[str, ...] = ()


def slack_key(team_id: str, user_id: str) -> str | None:
    """The key of a Slack user (None: ids that are not Slack's)."""
    if not (_SLACK_ID.fullmatch(team_id) and _SLACK_ID.fullmatch(user_id)):
        return None
    return f"slack.{team_id}.{user_id}"


def matrix_key(user_id: str) -> str | None:
    """The key of a Matrix user ``@localpart:server`` (None: not a user id, or too long)."""
    if not user_id.startswith("@") or ":" not in user_id[1:] or len(user_id) > 255:
        return None
    escaped = "".join(
        c if _PLAIN.fullmatch(c) else "".join(f"_{b:02x}" for b in c.encode()) for c in user_id[1:]
    )
    key = f"matrix.{escaped}"
    return key if _KEY.fullmatch(key) else None


def parse_identities(data: Mapping[str, str]) -> tuple[dict[str, Identity], list[str]]:
    """The identities of a ConfigMap's ``data``, and a message per entry that was skipped."""
    found: dict[str, Identity] = {}
    problems: list[str] = []
    for key, raw in sorted(data.items()):
        if not (key.startswith(("slack.", "matrix.")) and _KEY.fullmatch(key)):
            problems.append(f"{key}: not a slack.<team>.<user> or matrix.<user> key")
            continue
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError as err:
            problems.append(f"{key}: not YAML: {str(err).splitlines()[0]}")
            continue
        identity = _identity(value)
        if isinstance(identity, str):
            problems.append(f"{key}: {identity}")
            continue
        found[key] = identity
    return found, problems


def _identity(value: object) -> Identity | str:
    if not isinstance(value, dict):
        return "must be a mapping {user: NAME, groups: [GROUP, …]}"
    unknown = sorted(set(value) - {"user", "groups"})
    if unknown:
        return f"unknown field {unknown[0]!r} (only user and groups)"
    user, groups = value.get("user"), value.get("groups", [])
    if not isinstance(user, str) or not _NAME.fullmatch(user):
        return "user must be a Kubernetes user name"
    if not isinstance(groups, list) or not all(
        isinstance(g, str) and _NAME.fullmatch(g) for g in groups
    ):
        return "groups must be a list of group names"
    if user.startswith("system:") or any(g.startswith("system:") for g in groups):
        return "system: users and groups cannot be mapped from chat"
    return Identity(user=user, groups=tuple(dict.fromkeys(groups)))
