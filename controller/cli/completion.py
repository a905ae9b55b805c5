"""``landinggear completion bash|zsh|fish``: shell completion scripts made from the parser.

The verbs, their flags and the flags' fixed values are read from the argparse
parser, so the scripts cannot drift from the grammar. Rollout names are asked of
the cluster when completing (``landinggear list -o name``, with the ``-n``,
``--context`` and ``--kubeconfig`` already typed); namespaces and contexts of
kubectl. zsh runs the bash script through ``bashcompinit``. Pure: text in, text out.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from controller.cli.arguments import FLAGS_ACTIONS, OUTPUT_FORMATS

__all__ = ["script"]

_COMMANDS = ("landinggear", "kubectl-landinggear")
_FILE, _NAMESPACE, _CONTEXT = "<file>", "<namespace>", "<context>"
_CLUSTER_FLAGS = ("-n", "--namespace", "--context", "--kubeconfig")
_VERB_WORDS = {"flags": FLAGS_ACTIONS}
"""Words a verb takes besides the Rollout's name."""


@dataclass(frozen=True)
class _Option:
    flags: tuple[str, ...]
    values: str | None
    """None: a switch; else what its value completes to (words, or a ``<kind>``)."""
    help: str


@dataclass(frozen=True)
class _Verb:
    name: str
    help: str
    options: tuple[_Option, ...]
    rollout: bool
    """Takes the Rollout's name."""
    words: tuple[str, ...]
    """Fixed words it takes: a positional's choices, ``flags``' actions."""


def _values(action: argparse.Action) -> str | None:
    if action.nargs == 0:
        return None
    if action.choices:
        return " ".join(str(choice) for choice in action.choices)
    if action.dest == "output":
        return " ".join(f.removesuffix("TEMPLATE") for f in OUTPUT_FORMATS)
    special = {"kubeconfig": _FILE, "namespace": _NAMESPACE, "context": _CONTEXT}
    if action.dest in special:
        return special[action.dest]
    return _FILE if action.dest.endswith("_file") or action.metavar == "FILE" else ""


def _actions(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    """argparse has no public way to walk a parser's arguments; shtab and argcomplete
    read this list too."""
    return parser._actions  # noqa: SLF001 - argparse lists its arguments nowhere else


def _options(parser: argparse.ArgumentParser) -> tuple[_Option, ...]:
    return tuple(
        _Option(tuple(a.option_strings), _values(a), str(a.help or ""))
        for a in _actions(parser)
        if a.option_strings and a.help != argparse.SUPPRESS
    )


def _verbs(parser: argparse.ArgumentParser) -> tuple[_Verb, ...]:
    parsers = next(a.choices for a in _actions(parser) if isinstance(a.choices, dict))
    verbs = []
    for name, verb in parsers.items():
        positionals = [a for a in _actions(verb) if not a.option_strings]
        rollout = name != "chatops" and any(a.dest in ("name", "words") for a in positionals)
        choices = (str(c) for a in positionals for c in a.choices or ())
        verbs.append(
            _Verb(
                name,
                (verb.description or "").split("\n")[0],
                _options(verb),
                rollout,
                (*_VERB_WORDS.get(name, ()), *choices),
            )
        )
    return tuple(verbs)


def script(parser: argparse.ArgumentParser, shell: str) -> str:
    """The completion script for ``shell``: ``bash``, ``zsh`` or ``fish``."""
    verbs, globals_ = _verbs(parser), _options(parser)
    if shell == "fish":
        return _fish(verbs, globals_)
    bash = _bash(verbs, globals_)
    if shell == "zsh":
        return "autoload -U +X bashcompinit && bashcompinit\n" + bash
    return bash


def _words(values: str) -> str:
    return {
        _FILE: "",
        _NAMESPACE: "$(kubectl get namespaces -o name 2>/dev/null | sed 's|^[^/]*/||')",
        _CONTEXT: "$(kubectl config get-contexts -o name 2>/dev/null)",
    }.get(values, values)


def _bash(verbs: tuple[_Verb, ...], globals_: tuple[_Option, ...]) -> str:
    valued = {
        flag: option.values
        for options in (globals_, *(v.options for v in verbs))
        for option in options
        if option.values is not None
        for flag in option.flags
    }
    arms: dict[str, list[str]] = {}
    for flag, values in sorted(valued.items()):
        found = "-f" if values == _FILE else f'-W "{_words(values)}"'
        arms.setdefault(found, []).append(flag)
    prev_arms = [
        f'        {"|".join(flags)}) COMPREPLY=($(compgen {found} -- "$cur")); return;;'
        if found != '-W ""'
        else f"        {'|'.join(flags)}) return;;"
        for found, flags in arms.items()
    ]
    verb_arms = []
    for verb in verbs:
        flags = " ".join(flag for option in verb.options for flag in option.flags)
        words = " ".join(verb.words)
        verb_arms.append(
            f'        {verb.name}) opts="{flags}"; words="{words}"; names={int(verb.rollout)};;'
        )
    global_flags = " ".join(flag for option in globals_ for flag in option.flags)
    return _BASH.format(
        commands=" ".join(_COMMANDS),
        cluster="|".join(_CLUSTER_FLAGS),
        verbs="|".join(v.name for v in verbs),
        verb_words=" ".join(v.name for v in verbs),
        global_flags=global_flags,
        prev_arms="\n".join(prev_arms),
        verb_arms="\n".join(verb_arms),
    )


_BASH = """\
# landinggear completion for bash: source <(landinggear completion bash)
_landinggear_rollouts() {{
    local i args=()
    for ((i=1; i<COMP_CWORD; i++)); do
        case "${{COMP_WORDS[i]}}" in
            {cluster}) args+=("${{COMP_WORDS[i]}}" "${{COMP_WORDS[i+1]}}");;
            --namespace=*|--context=*|--kubeconfig=*) args+=("${{COMP_WORDS[i]}}");;
        esac
    done
    landinggear list "${{args[@]}}" -o name 2>/dev/null | sed 's|^[^/]*/||'
}}

_landinggear() {{
    local cur="${{COMP_WORDS[COMP_CWORD]}}" prev="${{COMP_WORDS[COMP_CWORD-1]}}"
    local i verb="" opts words names
    for ((i=1; i<COMP_CWORD; i++)); do
        case "${{COMP_WORDS[i]}}" in
            {verbs}) verb="${{COMP_WORDS[i]}}"; break;;
        esac
    done
    case "$prev" in
{prev_arms}
    esac
    case "$verb" in
        "") opts="{global_flags}"; words="{verb_words}"; names=0;;
{verb_arms}
    esac
    if [[ "$cur" == -* ]]; then
        COMPREPLY=($(compgen -W "$opts" -- "$cur"))
    else
        [[ $names == 1 ]] && words="$words $(_landinggear_rollouts)"
        COMPREPLY=($(compgen -W "$words" -- "$cur"))
    fi
}}
complete -F _landinggear {commands}
"""


_FISH_WORDS = {
    _NAMESPACE: "(kubectl get namespaces -o name 2>/dev/null | string replace -r '^[^/]*/' '')",
    _CONTEXT: "(kubectl config get-contexts -o name 2>/dev/null)",
}


def _fish(verbs: tuple[_Verb, ...], globals_: tuple[_Option, ...]) -> str:
    def quoted(text: str) -> str:
        return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"

    def option_line(option: _Option, condition: str) -> str:
        parts = ["complete -c landinggear", f"-n {quoted(condition)}"]
        for flag in option.flags:
            parts.append(f"-l {flag[2:]}" if flag.startswith("--") else f"-s {flag[1:]}")
        if option.values == _FILE:
            parts.append("-r -F")
        elif option.values is not None:
            parts.append("-x")
            if option.values:
                parts.append(f"-a {quoted(_FISH_WORDS.get(option.values, option.values))}")
        parts.append(f"-d {quoted(option.help[:80])}")
        return " ".join(parts)

    names = " ".join(v.name for v in verbs)
    lines = [_FISH_HEADER, "complete -c landinggear -f"]
    no_verb = f"not __fish_seen_subcommand_from {names}"
    lines += [option_line(o, no_verb) for o in globals_]
    for verb in verbs:
        lines.append(
            f"complete -c landinggear -n {quoted(no_verb)} -a {verb.name} -d {quoted(verb.help)}"
        )
        seen = f"__fish_seen_subcommand_from {verb.name}"
        lines += [option_line(o, seen) for o in verb.options]
        words = " ".join(verb.words)
        if verb.rollout:
            words = f"{words} (__landinggear_rollouts)".strip()
        if words:
            lines.append(f"complete -c landinggear -n {quoted(seen)} -a {quoted(words)}")
    lines.append("complete -c kubectl-landinggear -w landinggear")
    return "\n".join(lines) + "\n"


_FISH_HEADER = """\
# landinggear completion for fish: landinggear completion fish | source
function __landinggear_rollouts
    set -l words (commandline -opc)
    set -l args
    for i in (seq (count $words))
        switch $words[$i]
            case -n --namespace --context --kubeconfig
                if test $i -lt (count $words)
                    set -a args $words[$i] $words[(math $i + 1)]
                end
            case '--namespace=*' '--context=*' '--kubeconfig=*'
                set -a args $words[$i]
        end
    end
    landinggear list $args -o name 2>/dev/null | string replace -r '^[^/]*/' ''
end"""
