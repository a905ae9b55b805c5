"""Text helpers shared by the renderers: kubectl-style tables, ages and times."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime

__all__ = ["age", "parse_time", "table", "timestamp"]

_COLUMN_GAP = "   "


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], *, indent: str = "") -> str:
    """Left-aligned columns separated by three spaces, like ``kubectl get``."""
    lines = [list(headers), *(list(row) for row in rows)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(headers))]
    return "\n".join(
        indent
        + _COLUMN_GAP.join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


def parse_time(value: object) -> datetime | None:
    """An RFC 3339 time as the API server writes it, or None if absent or unreadable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def timestamp(value: object) -> str:
    """A time as ``2024-05-01T10:00:00Z`` (UTC, whole seconds), ``-`` if absent."""
    parsed = parse_time(value)
    if parsed is None:
        return "-"
    return parsed.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def age(since: object, now: datetime) -> str:
    """How long ago ``since`` was, rounded like kubectl's ``AGE`` column."""
    parsed = since if isinstance(since, datetime) else parse_time(since)
    if parsed is None:
        return "<unknown>"
    return _human_duration(int((now - parsed).total_seconds()))


def _pair(big: int, big_unit: str, small: int, small_unit: str) -> str:
    return f"{big}{big_unit}{small}{small_unit}" if small else f"{big}{big_unit}"


_MINUTE, _HOUR, _DAY, _YEAR = 60, 3600, 86400, 365 * 86400
_DURATION_FORMS: tuple[tuple[int, Callable[[int], str]], ...] = (
    # k8s.io/apimachinery/pkg/util/duration.HumanDuration: (below this many seconds, form)
    (2 * _MINUTE, lambda s: f"{s}s"),
    (10 * _MINUTE, lambda s: _pair(s // _MINUTE, "m", s % _MINUTE, "s")),
    (3 * _HOUR, lambda s: f"{s // _MINUTE}m"),
    (8 * _HOUR, lambda s: _pair(s // _HOUR, "h", s % _HOUR // _MINUTE, "m")),
    (48 * _HOUR, lambda s: f"{s // _HOUR}h"),
    (8 * _DAY, lambda s: _pair(s // _DAY, "d", s % _DAY // _HOUR, "h")),
    (2 * _YEAR, lambda s: f"{s // _DAY}d"),
    (8 * _YEAR, lambda s: _pair(s // _YEAR, "y", s % _YEAR // _DAY, "d")),
)


def _human_duration(seconds: int) -> str:
    if seconds < -1:
        return "<invalid>"
    seconds = max(seconds, 0)
    form = next((f for limit, f in _DURATION_FORMS if seconds < limit), None)
    return form(seconds) if form else f"{seconds // _YEAR}y"
