"""Release notifications: what one message about a release says, and where it goes.

One message per release (a Rollout's canary revision), posted when the release
starts and updated in place as it moves (Slack ``chat.update``, a Matrix edit):
started, each step, paused for promotion, analysis failed (the evidence line),
aborted / rolled back (who, why), promoted, guard passed / failed, flags
switched off. A :class:`ReleaseNote` is that message's content, made from the
Rollout alone (pure; see ``note_for``), with the commands that make sense now
(:attr:`ReleaseNote.actions`: Slack shows them as buttons, Matrix as the
``!landinggear`` lines to type). A :class:`Sink` is one chat network's way of
posting and updating it.

This module holds the shapes both sides agree on; the rendering per network and
the loop that watches Rollouts live beside it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from controller.chatops.commands import Verb

__all__ = ["ReleaseNote", "Sink"]


@dataclass(frozen=True, kw_only=True)
class ReleaseNote:
    """The content of one release's message, as it stands now."""

    namespace: str
    rollout: str
    revision: str
    """The release's (canary) revision: one message per revision."""
    headline: str
    """One line: ``web: v2 (abc123) paused at step 2/4 for promotion``."""
    lines: tuple[str, ...] = ()
    """Details: the evidence of a failed analysis, who aborted and why, flags …"""
    actions: tuple[Verb, ...] = ()
    """Commands that apply now (buttons on Slack): e.g. promote and abort while paused."""
    done: bool = False
    """The release has ended (promoted, aborted, rolled back): no more updates follow."""
    severity: str = "info"
    """``info``, ``warning`` (paused, inconclusive) or ``danger`` (failed, aborted)."""
    tags: tuple[str, ...] = field(default=())
    """Free-form labels a sink may show (``flags-off`` …)."""

    @property
    def target(self) -> str:
        return f"{self.namespace}/{self.rollout}"


class Sink(Protocol):
    """One destination (a Slack channel, a Matrix room, a Teams or webhook URL)."""

    name: str
    """For logs: ``slack:#deploys``, ``matrix:!room:example.org`` …"""

    def post(self, note: ReleaseNote) -> str:
        """Post a new message; return its handle (Slack ``channel:ts``, a Matrix event id)
        for :meth:`update`. Raises on failure (the notifier retries with backoff)."""
        ...

    def update(self, handle: str, note: ReleaseNote) -> None:
        """Replace the message ``handle`` with ``note`` (a sink that cannot edit posts a
        follow-up). Raises on failure."""
        ...
