"""The kill switch by hand: a person's ``flags-off`` and ``flags-restore`` requests (pure).

``landinggear flags off NAME [FLAG…]`` writes a ``flags-off`` request naming flags
(none: every declared flag); :func:`act` wants them Off, whatever their
``disableOn`` says — a person's explicit command — and touches nothing else: no
abort, no traffic, no scaling, no analysis restart (``flagsOffAt`` belongs to
``onAnomaly: DisableFlags`` alone). The reason becomes ``Manual: <why>``, which makes
the flag the person's (:func:`controller.core.flags.by_hand`): an abort leaves it as
it is, ``retry`` does not restore it, and a flag that an abort had switched off
becomes the person's too. ``landinggear flags restore NAME [FLAG…]`` writes a
``flags-restore`` request: every named flag that is wanted Off — by hand or by an
event — is wanted Restored.

:func:`controller.core.flags.drive` then issues the provider actions, as for every
other switch. Each request that changes something is recorded in the history
(``FlagsOffByHand``, a Warning Event; ``FlagsRestoredByHand``). Handles the Rollout
does not declare change nothing and are named in a Warning Event (the CLI refuses
them before writing); the request is consumed all the same, once, like every
request.
"""

from __future__ import annotations

from controller.api.flags import FlagState
from controller.api.reasons import EventReason, EventType
from controller.api.v1alpha1 import HistoryAction
from controller.core import flags
from controller.core.draft import Draft, Inputs, required
from controller.core.world import MANUAL, Request, Verb

__all__ = ["VERBS", "act"]

VERBS = (Verb.FLAGS_OFF, Verb.FLAGS_RESTORE)


def act(inputs: Inputs, draft: Draft, request: Request) -> Draft:
    """Carry out ``request`` (one of :data:`VERBS`) on the wanted states of the flags."""
    names = _known(inputs, request)
    unknown = [n for n in request.flags if n not in names]
    if unknown:
        declared = ", ".join(f.name for f in inputs.rollout.spec.feature_flags) or "none"
        draft = draft.emit(
            EventType.WARNING,
            EventReason.UNKNOWN_FLAGS,
            f"{request.verb.value} by {request.by}: no flag named {', '.join(unknown)} in "
            f"spec.featureFlags (declared: {declared}); ignored",
        )
    if not names:
        if not request.flags:
            return draft.emit(
                EventType.WARNING,
                EventReason.REQUEST_IGNORED,
                f"{request.verb.value} by {request.by}: the Rollout declares no feature flags",
            )
        return draft
    if request.verb is Verb.FLAGS_OFF:
        return _switch_off(inputs, draft, request, names)
    return _restore(inputs, draft, request, names)


def _known(inputs: Inputs, request: Request) -> list[str]:
    """The declared flags ``request`` names (none named: all of them), in spec order."""
    declared = [f.name for f in inputs.rollout.spec.feature_flags]
    if not request.flags:
        return declared
    return [name for name in declared if name in request.flags]


def _switch_off(inputs: Inputs, draft: Draft, request: Request, names: list[str]) -> Draft:
    entries = {e.name: e for e in draft.status.feature_flags}
    fresh = [n for n in names if n not in entries or entries[n].wanted is not FlagState.OFF]
    taken = [n for n in names if n in entries and n not in fresh and not flags.by_hand(entries[n])]
    if not fresh and not taken:
        return draft.emit(
            EventType.NORMAL,
            EventReason.REQUEST_IGNORED,
            f"{request.verb.value} by {request.by}: {', '.join(names)} already switched off "
            "by hand",
        )
    why = request.reason or f"switched off by {request.by}"
    reason = f"{MANUAL}: {why}"
    draft = flags.want(inputs, draft, fresh, FlagState.OFF, reason=reason, by=request.by)
    if taken:  # off already: the person's from now on, its attempts and backoff unchanged
        update = {"reason": reason[:1024], "by": request.by}
        entries = {e.name: e for e in draft.status.feature_flags}
        entries.update({n: entries[n].model_copy(update=update) for n in taken})
        draft = flags.with_entries(inputs, draft, entries.values())
    switched = ", ".join(n for n in names if n in fresh or n in taken)
    given = f": {request.reason}" if request.reason else ""
    return draft.record(
        HistoryAction.FLAGS_OFF_BY_HAND,
        _release(draft),
        by=request.by,
        reason=f"Switched off {switched}{given} (off until `landinggear flags restore`; "
        "the release is left as it is)",
    )


def _restore(inputs: Inputs, draft: Draft, request: Request, names: list[str]) -> Draft:
    entries = {e.name: e for e in draft.status.feature_flags}
    off = [n for n in names if n in entries and entries[n].wanted is FlagState.OFF]
    if not off:
        return draft.emit(
            EventType.NORMAL,
            EventReason.REQUEST_IGNORED,
            f"{request.verb.value} by {request.by}: {', '.join(names)} not switched off",
        )
    given = f": {request.reason}" if request.reason else ""
    why = f"Restore by {request.by}{given}"
    draft = flags.want(inputs, draft, off, FlagState.RESTORED, reason=why, by=request.by)
    return draft.record(
        HistoryAction.FLAGS_RESTORED_BY_HAND,
        _release(draft),
        by=request.by,
        reason=f"Restored {', '.join(off)}{given}",
    )


def _release(draft: Draft) -> str:
    """The revision the history names: the canary's while one runs, else the stable."""
    return draft.status.canary_revision or required(draft.status.stable_revision)
