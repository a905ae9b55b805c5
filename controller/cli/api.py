"""The few API calls the command line makes, as raw JSON through the ``ApiClient``.

Every failure comes out as :class:`~controller.cli.errors.CliError` carrying the
API server's message, so commands only decide what a 404 means for them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import urllib3
from kubernetes.client.exceptions import ApiException

from controller.api.v1alpha1 import GROUP, PLURAL, VERSION
from controller.cli.errors import CliError, from_api_exception
from controller.cli.session import Session
from controller.kube.objects import KubeObject
from controller.kube.transport import Resource, request_json

__all__ = [
    "EVENTS",
    "REPLICA_SETS",
    "ROLLOUTS",
    "create_event",
    "get_rollout",
    "list_rollouts",
    "merge_patch_rollout",
    "send",
    "whoami",
]

ROLLOUTS = Resource(group=GROUP, version=VERSION, plural=PLURAL)
EVENTS = Resource(group="events.k8s.io", version="v1", plural="events")
REPLICA_SETS = Resource(group="apps", version="v1", plural="replicasets")
SELF_SUBJECT_REVIEWS = Resource(
    group="authentication.k8s.io", version="v1", plural="selfsubjectreviews"
)
TIMEOUT = (10.0, 30.0)
"""Seconds to connect and to wait for an answer: a command never hangs for long."""

MERGE_PATCH = "application/merge-patch+json"


class NotFound(CliError):
    """The API server answered 404."""


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
    api = session.api
    try:
        return request_json(
            api,
            method,
            path,
            query=query,
            body=body,
            timeout=TIMEOUT,
            content_type=content_type if body is not None else None,
        )
    except ApiException as err:
        if not err.status:  # raised before any answer arrived
            raise CliError(f"cannot reach the API server at {api.configuration.host}") from err
        error = from_api_exception(err)
        if err.status == 404:
            raise NotFound(error.message, status=404) from err
        raise error from err
    except (urllib3.exceptions.HTTPError, OSError) as err:
        host = api.configuration.host
        raise CliError(f"cannot reach the API server at {host}: {err}") from err
    except json.JSONDecodeError:
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
