"""The verbs that read or change one request's worth: ``get``, ``list``, ``history``,
``flags`` and the changing verbs. Each takes a :class:`Session`, prints, and returns the exit code.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from datetime import UTC, datetime

from controller.api.wire import GROUP, KIND
from controller.cli import api, changes, render
from controller.cli.errors import CliError
from controller.cli.flags import flags_table, merged_flags
from controller.cli.session import Session
from controller.kube.objects import KubeObject

__all__ = ["change", "flags", "get", "history", "list_rollouts"]


def _without_managed_fields(obj: KubeObject) -> KubeObject:
    """The object as ``kubectl get -o json`` shows it: ``metadata.managedFields`` left out."""
    meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k != "managedFields"}
    return {**obj, "metadata": meta} if "metadata" in obj else obj


def _dump(obj: KubeObject, output: str) -> str:
    if output == "json":
        return json.dumps(obj, indent=2)
    import yaml

    return yaml.safe_dump(obj, sort_keys=False).rstrip("\n")


def _name(rollout: KubeObject) -> str:
    """``rollout.landinggear.dev/web``, as ``kubectl get -o name`` writes it."""
    return f"{KIND.lower()}.{GROUP}/{(rollout.get('metadata') or {}).get('name', '')}"


def _print_as_data(obj: KubeObject, output: str) -> None:
    """``obj`` (a Rollout or a List) as ``-o json|yaml|name|jsonpath=…`` ask."""
    if output == "name":
        items = obj["items"] if obj.get("kind") == "List" else [obj]
        for item in items:
            print(_name(item))
    elif output.startswith("jsonpath="):
        from controller.cli import jsonpath

        template = jsonpath.parse(output.removeprefix("jsonpath="))
        sys.stdout.write(jsonpath.render(template, obj))
    else:
        print(_dump(obj, output))


def get(session: Session, name: str, *, output: str | None) -> int:
    rollout = api.get_rollout(session, name)
    now = datetime.now(UTC)
    if output == "wide":
        print(render.rollout_table([rollout], now, all_namespaces=False, wide=True))
    elif output is not None:
        _print_as_data(_without_managed_fields(rollout), output)
    else:
        print(render.summary(rollout, now))
    return 0


def list_rollouts(session: Session, *, all_namespaces: bool, output: str | None) -> int:
    rollouts = api.list_rollouts(session, all_namespaces=all_namespaces)
    if output not in (None, "wide"):
        items = [_without_managed_fields(r) for r in rollouts]
        _print_as_data({"apiVersion": "v1", "kind": "List", "items": items}, output)
        return 0
    if not rollouts:
        where = "any namespace" if all_namespaces else f"{session.namespace} namespace"
        print(f"No rollouts found in {where}.", file=sys.stderr)
        return 0
    now = datetime.now(UTC)
    wide = output == "wide"
    print(render.rollout_table(rollouts, now, all_namespaces=all_namespaces, wide=wide))
    return 0


def history(session: Session, name: str) -> int:
    rollout = api.get_rollout(session, name)
    if not (rollout.get("status") or {}).get("history"):
        print(f"No history recorded for rollout {session.namespace}/{name} yet.", file=sys.stderr)
        return 0
    print(render.history_table(rollout))
    return 0


def flags(session: Session, name: str) -> int:
    try:
        rollout = api.get_rollout(session, name)
    except CliError as err:
        hint = _FLAGS_HINTS.get(name)
        if hint and err.message.endswith("not found"):
            raise CliError(f"{err.message} ({hint})") from err
        raise
    print(flags_table(rollout, datetime.now(UTC)))
    return 0


_FLAGS_HINTS = {
    "off": "to switch a Rollout's flags off: flags off NAME [FLAG ...]",
    "restore": "to restore a Rollout's flags: flags restore NAME [FLAG ...]",
}


def change(
    session: Session,
    verb: str,
    name: str,
    *,
    full: bool = False,
    reason: str = "",
    keep_flags_off: bool = False,
    flags: tuple[str, ...] = (),
    wait: float | None = None,
) -> int:
    """Read the Rollout, refuse if ``verb`` cannot apply, patch it, record an Event.

    ``flags``: the feature flags of ``flags-off`` / ``flags-restore`` (none: all); an
    unhandled request of the same verb is merged in, never dropped. ``wait``: then
    wait up to that many seconds for the controller to act on the request."""
    rollout = api.get_rollout(session, name)
    why = changes.refusal(verb, rollout, flags=flags)
    if why is not None:
        raise CliError(why)
    if verb in changes.FLAG_VERBS:
        pending = changes.pending_request(verb, rollout)
        flags = merged_flags(flags, pending)
        if pending is not None:
            print(
                f"note: merged with the {verb} request by {pending.by} that the controller "
                "has not acted on yet",
                file=sys.stderr,
            )
    user = api.whoami(session)
    now = datetime.now(UTC)
    request_id = os.urandom(16).hex()
    if verb in ("pause", "resume"):
        patch = changes.paused_patch(verb == "pause")
    else:
        patch = changes.request_patch(
            verb,
            request_id=request_id,
            by=user,
            at=now,
            full=full,
            reason=reason,
            keep_flags_off=keep_flags_off,
            flags=flags,
        )
    stored = api.merge_patch_rollout(session, name, patch)
    event = changes.event_for(
        stored,
        verb=verb,
        user=user,
        at=now,
        suffix=os.urandom(8).hex(),
        instance=f"landinggear-cli@{socket.gethostname()}",
        full=full,
        reason=reason,
        flags=flags,
    )
    try:
        api.create_event(session, event)
    except CliError as err:
        # Recording Events is not every operator's right (anyone who may create
        # Events may forge one); the Rollout's history names who asked, and admission
        # checks that name (manifests/controller/admission.yaml).
        if err.status != 403:
            print(f"warning: {verb} was stored, but no Event was recorded: {err}", file=sys.stderr)
    print(changes.confirmation(verb, stored, user=user, full=full, flags=flags), flush=True)
    if wait is not None and verb not in ("pause", "resume"):
        return _await(session, name, verb, request_id, wait)
    return 0


def _await(session: Session, name: str, verb: str, request_id: str, seconds: float) -> int:
    """Poll the Rollout until the controller has acted on ``request_id`` and what it
    started is over (:func:`changes.finished`); print the outcome, or fail after
    ``seconds`` (the request stays, for a controller to come)."""
    deadline = time.monotonic() + seconds
    while True:
        rollout = api.get_rollout(session, name)
        done = changes.outcome(verb, request_id, rollout)
        if done is not None and changes.finished(verb, rollout):
            print(f"Done: {done}")
            return 0
        if time.monotonic() >= deadline:
            break
        time.sleep(min(0.5, max(0.0, deadline - time.monotonic())))
    if done is not None:
        raise CliError(f"the {verb} is under way but not over within {seconds:g}s: {done}")
    raise CliError(
        f"no controller acted on the {verb} request within {seconds:g}s; it stays on the "
        "Rollout and is acted on once a controller runs (is `landinggear run` running? "
        "Its Lease names the leader: kubectl get leases -A | grep landinggear)"
    )
