"""Query templates with safe substitution, and ``counts``: requests and bad requests of a revision.

Syntax: ``${name}`` is replaced, ``$$`` is a literal ``$``; any other ``$`` is an
error. No expressions, no eval, no Jinja. Known names:

* ``rollout``, ``namespace``, ``service`` — the Rollout, its namespace and Service;
* ``canary``, ``stable`` — the two revisions (pod-template hashes);
* ``revision`` — the revision being measured (``canary`` or ``stable``, set by ``counts``);
* ``window`` — a PromQL duration such as ``30s`` or ``1m30s``.

``window`` is placed bare (``[${window}]``) and its value must be a duration.
Every other name is a label value and must sit inside a double-quoted PromQL
string (``revision="${revision}"``): the value is escaped for that literal
(backslash, double quote, newlines), so no value can end the string and inject
PromQL. It is *not* escaped for regular expressions: use ``=``, not ``=~``. An
empty value is refused, because ``label=""`` matches every series *without* the
label. All of this is checked when a template is built, so a bad template fails
when the Rollout is read, not mid-analysis.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from controller.providers import MetricProvider

__all__ = [
    "KNOWN_VARIABLES",
    "Counts",
    "MetricTemplate",
    "NoData",
    "QueryTemplate",
    "Role",
    "TemplateError",
    "Variables",
    "check_duration",
    "counts",
    "escape_label_value",
]

KNOWN_VARIABLES = ("rollout", "namespace", "service", "canary", "stable", "revision", "window")
_BARE = frozenset({"window"})
_DURATION = re.compile(r"^(\d+y)?(\d+w)?(\d+d)?(\d+h)?(\d+m)?(\d+s)?(\d+ms)?$")
_PLACEHOLDER = re.compile(r"\$(?:\$|\{([^}]*)\}|)")
_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


class TemplateError(ValueError):
    """A template or a variable value cannot be used."""


class Role(StrEnum):
    CANARY = "canary"
    STABLE = "stable"


def escape_label_value(value: str) -> str:
    """``value`` escaped for a double-quoted PromQL string literal."""
    return "".join(_ESCAPES.get(char, char) for char in value)


def check_duration(window: str) -> str:
    if not window or not _DURATION.match(window) or not any(c in "123456789" for c in window):
        raise TemplateError(
            f"window {window!r} is not a positive PromQL duration such as 30s or 5m"
        )
    return window


@dataclass(frozen=True, kw_only=True)
class Variables:
    """Values for one analysis of one Rollout."""

    rollout: str
    namespace: str
    service: str
    canary: str
    stable: str
    window: str

    def __post_init__(self) -> None:
        check_duration(self.window)

    def for_role(self, role: Role) -> dict[str, str]:
        revision = self.canary if role is Role.CANARY else self.stable
        return {
            "rollout": self.rollout,
            "namespace": self.namespace,
            "service": self.service,
            "canary": self.canary,
            "stable": self.stable,
            "revision": revision,
            "window": self.window,
        }


def _quoted_spans(text: str) -> list[tuple[int, int, str]]:
    """(start, end, quote) of each string literal; ``#`` comments are skipped."""
    spans, i = [], 0
    while i < len(text):
        char = text[i]
        if char == "#":
            end = text.find("\n", i)
            i = len(text) if end < 0 else end + 1
        elif char in "\"'`":
            start, i = i, i + 1
            while i < len(text) and text[i] != char:
                i += 2 if char != "`" and text[i] == "\\" else 1
            if i >= len(text):
                raise TemplateError(f"unterminated {char}-quoted string at offset {start}")
            spans.append((start, i, char))
            i += 1
        else:
            i += 1
    return spans


class QueryTemplate:
    """A PromQL text with ``${name}`` placeholders, validated once, rendered many times."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._pieces: list[str | tuple[str]] = []
        spans = _quoted_spans(text)
        position = 0
        for match in _PLACEHOLDER.finditer(text):
            self._pieces.append(text[position : match.start()])
            position = match.end()
            if match.group(0) == "$$":
                self._pieces.append("$")
                continue
            name = match.group(1)
            if name is None:
                raise TemplateError(
                    f"stray '$' at offset {match.start()}: write ${{name}}, or $$ for a literal $"
                )
            if name not in KNOWN_VARIABLES:
                raise TemplateError(
                    f"unknown variable ${{{name}}}; known: {', '.join(KNOWN_VARIABLES)}"
                )
            quote = next((q for s, e, q in spans if s < match.start() < e), None)
            if name in _BARE and quote is not None:
                raise TemplateError(f"${{{name}}} is a duration: place it outside quotes")
            if name not in _BARE and quote != '"':
                raise TemplateError(
                    f"${{{name}}} is a label value: place it inside a double-quoted string, "
                    f'e.g. label="${{{name}}}"'
                )
            self._pieces.append((name,))
        self._pieces.append(text[position:])

    @property
    def variables(self) -> frozenset[str]:
        return frozenset(piece[0] for piece in self._pieces if isinstance(piece, tuple))

    def render(self, values: dict[str, str]) -> str:
        out = []
        for piece in self._pieces:
            if isinstance(piece, str):
                out.append(piece)
                continue
            name = piece[0]
            value = values.get(name, "")
            if not value:
                raise TemplateError(
                    f"${{{name}}} has no value; an empty label value would match every "
                    "series without that label"
                )
            out.append(check_duration(value) if name in _BARE else escape_label_value(value))
        return "".join(out)

    def __repr__(self) -> str:
        return f"QueryTemplate({self.text!r})"


@dataclass(frozen=True, kw_only=True)
class MetricTemplate:
    """Two queries per revision: how many requests, and how many of them were bad.

    Both must return counts over ``${window}`` (``sum(increase(...[${window}]))``),
    not rates or ratios: the judge works on counts.
    """

    name: str
    canary_requests: QueryTemplate
    canary_bad: QueryTemplate
    stable_requests: QueryTemplate
    stable_bad: QueryTemplate

    @classmethod
    def uniform(cls, *, name: str, requests: str, bad: str) -> MetricTemplate:
        """One pair of queries for both revisions, which must select by ``${revision}``."""
        pair = QueryTemplate(requests), QueryTemplate(bad)
        for query in pair:
            if "revision" not in query.variables:
                raise TemplateError(
                    f"metric {name!r}: {query.text!r} does not use ${{revision}}, so canary "
                    "and stable would be measured by the same query"
                )
        return cls(
            name=name,
            canary_requests=pair[0],
            canary_bad=pair[1],
            stable_requests=pair[0],
            stable_bad=pair[1],
        )

    def render(self, variables: Variables, role: Role) -> tuple[str, str]:
        """The (requests, bad) queries for ``role``."""
        values = variables.for_role(role)
        if role is Role.CANARY:
            return self.canary_requests.render(values), self.canary_bad.render(values)
        return self.stable_requests.render(values), self.stable_bad.render(values)


@dataclass(frozen=True)
class Counts:
    """Requests a revision served in the window, and how many were bad (NaN kept as NaN)."""

    requests: float
    bad: float


@dataclass(frozen=True)
class NoData:
    """A query matched no series: nothing was measured (which is not zero requests)."""

    role: Role
    query: str

    def __str__(self) -> str:
        return f"no data for the {self.role} revision from {self.query!r}"


async def counts(
    provider: MetricProvider,
    template: MetricTemplate,
    variables: Variables,
    role: Role,
    *,
    at: datetime,
) -> Counts | NoData:
    """Run the two queries of ``role`` at the same instant ``at``.

    Several series are summed (counts add up); an empty result is ``NoData``, so
    the caller applies its no-data policy instead of seeing a zero. Errors from
    the provider propagate (``ProviderError``).
    """
    values: list[float] = []
    for query in template.render(variables, role):
        samples = await provider.query(query, at=at)
        if not samples:
            return NoData(role=role, query=query)
        values.append(sum((s.value for s in samples), 0.0))
    return Counts(requests=values[0], bad=values[1])
