"""``-o jsonpath=TEMPLATE``: the subset of kubectl's JSONPath templates the CLI evaluates.

Pure: :func:`parse` turns a template into nodes (raising :class:`TemplateError` for
what it does not support), :func:`render` evaluates them against an object.

Supported, as in kubectl:

- text outside braces, printed as is, and string literals ``{"\\n"}`` (``\\n``, ``\\t``);
- field paths ``{.status.phase}``, ``{.metadata.labels['app.kubernetes.io/name']}``,
  indexes ``[0]``, ``[-1]``, wildcards ``[*]`` and ``.*``; ``$`` is the object
  itself, ``@`` (or a leading ``.``) the current one;
- ``{range .items[*]}…{end}``, where paths are relative to each item.

Several results are joined with spaces; strings print raw, numbers, booleans, maps
and lists as JSON; a missing field prints nothing (kubectl's default
``--allow-missing-template-keys``). Not supported, and refused: filters
``[?(…)]``, slices ``[1:3]``, unions ``[a,b]``, recursive descent ``..``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["Template", "TemplateError", "parse", "render"]

SUPPORTED = "supported: text, {.field.path}, ['key'], [N], [*], {range …}…{end}, {\"text\"}"


class TemplateError(ValueError):
    """A template this subset cannot evaluate; the message says why and what is supported."""


@dataclass(frozen=True)
class _Path:
    root: bool
    """From the object itself (``$``) rather than the current item."""
    segments: tuple[str | int, ...]
    """Keys, indexes, and ``*`` for every element."""


@dataclass(frozen=True)
class _Range:
    path: _Path
    body: tuple[_Node, ...]


_Node = str | _Path | _Range
Template = tuple[_Node, ...]

_NAME = re.compile(r"[A-Za-z0-9_-]+|\*")
_INDEX = re.compile(r"-?\d+")
_KEY = re.compile(r"'([^']*)'|\"([^\"]*)\"")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'"}


def parse(template: str) -> Template:
    """The template as nodes; :class:`TemplateError` if it is outside the subset."""
    stack: list[tuple[_Path | None, list[_Node]]] = [(None, [])]
    for text, action in _split(template):
        if text:
            stack[-1][1].append(text)
        if action is None:
            continue
        word = action.strip()
        if word == "end":
            if len(stack) == 1:
                raise TemplateError(f"{{end}} without {{range}} in {template!r}")
            path, body = stack.pop()
            assert path is not None
            stack[-1][1].append(_Range(path, tuple(body)))
        elif word.startswith("range ") or word == "range":
            stack.append((_path(word.removeprefix("range").strip(), template), []))
        elif word[:1] in ('"', "'"):
            stack[-1][1].append(_literal(word, template))
        else:
            stack[-1][1].append(_path(word, template))
    if len(stack) > 1:
        raise TemplateError(f"{{range}} without {{end}} in {template!r}")
    return tuple(stack[0][1])


def _split(template: str) -> list[tuple[str, str | None]]:
    """(text before, the action inside braces or None) pairs; quotes may hold braces."""
    parts: list[tuple[str, str | None]] = []
    start = 0
    while (opening := template.find("{", start)) != -1:
        i, quote = opening + 1, ""
        while i < len(template) and (quote or template[i] != "}"):
            if quote and template[i] == "\\":
                i += 1
            elif template[i] in "\"'":
                quote = "" if quote == template[i] else quote or template[i]
            i += 1
        if i >= len(template):
            raise TemplateError(f"unclosed {{ in {template!r}")
        parts.append((template[start:opening], template[opening + 1 : i]))
        start = i + 1
    parts.append((template[start:], None))
    return parts


def _literal(word: str, template: str) -> str:
    quote = word[0]
    if len(word) < 2 or word[-1] != quote:
        raise TemplateError(f"unterminated string {word} in {template!r}")
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m[1], m[0]), word[1:-1])


def _path(expression: str, template: str) -> _Path:
    def refuse(why: str) -> TemplateError:
        return TemplateError(f"unsupported JSONPath {{{expression}}}: {why} ({SUPPORTED})")

    text, root = expression, expression.startswith("$")
    if text[:1] in ("$", "@"):
        text = text[1:]
    if text == ".":
        text = ""
    segments: list[str | int] = []
    while text:
        if text.startswith(".."):
            raise refuse("recursive descent (..) is not supported")
        if text[0] == ".":
            name = _NAME.match(text, 1)
            if name is None:
                raise refuse(f"expected a field name at {text!r}")
            segments.append(name[0])
            text = text[name.end() :]
        elif text[0] == "[":
            end = text.find("]")
            if end == -1:
                raise refuse("unclosed [")
            segments.append(_subscript(text[1:end].strip(), refuse))
            text = text[end + 1 :]
        else:
            raise refuse(f"expected . or [ at {text!r}")
    return _Path(root, tuple(segments))


def _subscript(inner: str, refuse: Callable[[str], TemplateError]) -> str | int:
    if inner == "*":
        return "*"
    if _INDEX.fullmatch(inner):
        return int(inner)
    if key := _KEY.fullmatch(inner):
        return key[1] if key[1] is not None else key[2]
    if inner.startswith("?"):
        raise refuse("filters [?(…)] are not supported")
    if ":" in inner:
        raise refuse("slices [a:b] are not supported")
    if "," in inner:
        raise refuse("unions [a,b] are not supported")
    raise refuse(f"cannot read [{inner}]")


def render(template: Template, obj: Any) -> str:
    """The template's text for ``obj``."""
    return _render(template, root=obj, current=obj)


def _render(nodes: tuple[_Node, ...], *, root: Any, current: Any) -> str:
    out: list[str] = []
    for node in nodes:
        if isinstance(node, str):
            out.append(node)
        elif isinstance(node, _Path):
            out.append(" ".join(_text(v) for v in _values(node, root=root, current=current)))
        else:
            for item in _values(node.path, root=root, current=current):
                out.append(_render(node.body, root=root, current=item))
    return "".join(out)


def _values(path: _Path, *, root: Any, current: Any) -> list[Any]:
    values = [root if path.root else current]
    for segment in path.segments:
        found: list[Any] = []
        for value in values:
            if segment == "*":
                found += list(value.values()) if isinstance(value, dict) else []
                found += value if isinstance(value, list) else []
            elif isinstance(segment, int):
                if isinstance(value, list) and -len(value) <= segment < len(value):
                    found.append(value[segment])
            elif isinstance(value, dict) and segment in value:
                found.append(value[segment])
        values = found
    return values


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)
