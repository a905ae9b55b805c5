"""Status bookkeeping: conditions with honest transition times, bounded history."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from controller.api.v1alpha1 import (
    HISTORY_LIMIT,
    Condition,
    ConditionType,
    HistoryEntry,
)

ConditionState = tuple[bool, str, str]
"""(status, reason, message) of one condition."""


def set_conditions(
    current: list[Condition],
    wanted: dict[ConditionType, ConditionState],
    *,
    now: datetime,
) -> list[Condition]:
    """Conditions with ``wanted`` applied; ``lastTransitionTime`` moves only on a status flip."""
    by_type = {c.type: c for c in current}
    result: list[Condition] = []
    for ctype in ConditionType:
        if ctype not in wanted:
            if ctype in by_type:
                result.append(by_type[ctype])
            continue
        flag, reason, message = wanted[ctype]
        status: Literal["True", "False"] = "True" if flag else "False"
        old = by_type.get(ctype)
        since = old.last_transition_time if old is not None and old.status == status else now
        result.append(
            Condition(
                type=ctype,
                status=status,
                reason=reason,
                message=message,
                last_transition_time=since,
            )
        )
    return result


def append_history(history: list[HistoryEntry], entry: HistoryEntry) -> list[HistoryEntry]:
    """History with ``entry`` appended, oldest entries dropped beyond the limit."""
    return [*history, entry][-HISTORY_LIMIT:]
