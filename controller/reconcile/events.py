"""Kubernetes Events on Rollouts (``events.k8s.io/v1``), recorded on transitions only."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

import structlog
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException

from controller.core.actions import Event
from controller.kube.errors import describe
from controller.kube.transport import Resource, request_json

EVENTS = Resource(group="events.k8s.io", version="v1", plural="events")
REPORTING_CONTROLLER = "landinggear.dev/controller"

log = structlog.get_logger("landinggear.events")


def event_body(
    *, regarding: dict[str, Any], event: Event, now: datetime, instance: str, action: str
) -> dict[str, Any]:
    meta = regarding["metadata"]
    return {
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "metadata": {
            "name": f"{meta['name']}.{uuid.uuid4().hex[:16]}",
            "namespace": meta["namespace"],
        },
        "eventTime": now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "reportingController": REPORTING_CONTROLLER,
        "reportingInstance": instance[:128],
        "action": action[:128],
        "reason": event.reason[:128],
        "note": event.message[:1024],
        "type": event.type,
        "regarding": {
            "apiVersion": regarding.get("apiVersion", ""),
            "kind": regarding.get("kind", ""),
            "name": meta["name"],
            "namespace": meta["namespace"],
            "uid": meta.get("uid", ""),
            "resourceVersion": meta.get("resourceVersion", ""),
        },
    }


class EventRecorder:
    """Best effort: a failed Event is logged, never fails the reconcile."""

    def __init__(self, api: ApiClient, clock: Callable[[], datetime]) -> None:
        self.api = api
        self.clock = clock
        self.instance = socket.gethostname()

    def record(self, regarding: dict[str, Any], event: Event) -> None:
        body = event_body(
            regarding=regarding,
            event=event,
            now=self.clock(),
            instance=self.instance,
            action="Reconcile",
        )
        try:
            request_json(
                self.api,
                "POST",
                EVENTS.collection_path(body["metadata"]["namespace"]),
                body=body,
                timeout=(5.0, 10.0),
            )
        except (ApiException, OSError) as err:
            log.warning("Failed to record event", reason=event.reason, error=describe(err))
