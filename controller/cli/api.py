"""The few API calls the command line makes, as raw JSON through the ``ApiClient``.

Every failure comes out as :class:`~controller.cli.errors.CliError` carrying the
API server's message, so commands only decide what a 404 means for them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from controller.api.wire import GROUP, PLURAL, VERSION
from controller.cli.errors import CliError, api_failure
from controller.cli.session import Session
from controller.cli.transport import TimedOut, Unreachable
from controller.kube.objects import KubeObject
from controller.kube.resources import Resource

__all__ = [
    "EVENTS",
    "REPLICA_SETS",
    "ROLLOUTS",
    "NotFound",
    "create_event",
    "get_rollout",
    "list_rollouts",
    "merge_patch_rollout",
    "send",
    "unreachable",
    "whoami",
]

ROLLOUTS = Resource(group=GROUP, version=VERSION, plural=PLURAL)
EVENTS = Resource(group="events.k8s.io", version="v1", plural="events")
REPLICA_SETS = Resource(group="apps", version="v1", plural="replicasets")
SELF_SUBJECT_REVIEWS = Resource(
    group="authentication.k8s.io", version="v1", plural="selfsubjectreviews"
)
MERGE_PATCH = "application/merge-patch+json"


class NotFound(CliError):
    """The API server answered 404."""


def unreachable(session: Session, err: Unreachable) -> CliError:
    """No answer, in words: ``--request-timeout`` passed, or the server out of reach."""
    host = session.api.host
    if isinstance(err, TimedOut):
        return CliError(
            f"the API server at {host} gave no answer within {session.api.timeout:g}s "
            "(--request-timeout)"
        )
    return CliError(f"cannot reach the API server at {host}: {err}")


def send(
    session: Session,
    method: str,
    path: str,
    *,
    query: Sequence[tuple[str, str]] = (),
    body: KubeObject | None = None,
    content_type: str = "application/json",
) -> Any:
    """Send one request and decode its JSON answer; raise ``CliError`` unless 2xx."""
    payload = None if body is None else json.dumps(body).encode()
    try:
        answer = session.api.send(
            method, path, query=query, body=payload, content_type=content_type
        )
    except Unreachable as err:
        raise unreachable(session, err) from err
    if not 200 <= answer.status <= 299:
        error = api_failure(answer.status, answer.reason, answer.body)
        if answer.status == 404:
            raise NotFound(error.message, status=404)
        raise error
    try:
        return json.loads(answer.body)
    except ValueError:
        return None


def get_rollout(session: Session, name: str) -> KubeObject:
    """The Rollout ``name`` in the session's namespace, exactly as stored."""
    try:
        obj: KubeObject = send(session, "GET", ROLLOUTS.object_path(session.namespace, name))
    except NotFound as err:
        raise CliError(f"rollout {session.namespace}/{name} not found") from err
    return obj


def list_rollouts(session: Session, *, all_namespaces: bool) -> list[KubeObject]:
    """Rollouts in the session's namespace, or in all namespaces."""
    namespace = None if all_namespaces else session.namespace
    body = send(session, "GET", ROLLOUTS.collection_path(namespace))
    items: list[KubeObject] = body.get("items") or []
    return items


def merge_patch_rollout(session: Session, name: str, patch: KubeObject) -> KubeObject:
    """Apply a JSON merge patch to the Rollout ``name``; return the stored result."""
    try:
        obj: KubeObject = send(
            session,
            "PATCH",
            ROLLOUTS.object_path(session.namespace, name),
            body=patch,
            content_type=MERGE_PATCH,
        )
    except NotFound as err:
        raise CliError(f"rollout {session.namespace}/{name} not found") from err
    return obj


def create_event(session: Session, event: KubeObject) -> None:
    """Create an ``events.k8s.io/v1`` Event in the session's namespace."""
    send(session, "POST", EVENTS.collection_path(session.namespace), body=event)


def whoami(session: Session) -> str:
    """The user name the API server authenticates us as, else the kubeconfig user."""
    review = {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}
    try:
        answer = send(session, "POST", SELF_SUBJECT_REVIEWS.collection_path(), body=review)
        username = str(answer["status"]["userInfo"]["username"])
    except (CliError, KeyError, TypeError):
        username = ""
    return username or session.kubeconfig_user or "unknown"
