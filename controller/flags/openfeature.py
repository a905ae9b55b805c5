"""The OpenFeature provider: flags of ``FeatureFlag`` objects, through the Kubernetes API.

Each switch reads the FeatureFlag, computes the change
(:mod:`controller.flags.openfeature_plan`: the off variant, the restore record
in the annotation with its holders) and sends it as a JSON Patch guarded by the
resourceVersion read. A 409 (someone changed the object in between) reads and
plans again, a few times; any other failure is a :class:`~controller.flags.FlagError`
naming the object and the API server's answer. Each request has a timeout, so
an API server that does not answer costs at most that.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import urllib3
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException

from controller.flags import FlagError, FlagTarget
from controller.flags.openfeature_plan import Patch, Plan, holder, plan_off, plan_restore
from controller.kube.errors import describe
from controller.kube.objects import KubeObject
from controller.kube.transport import RequestTimeout, Resource, request_json

FEATURE_FLAGS = Resource(group="core.openfeature.dev", version="v1beta1", plural="featureflags")
JSON_PATCH = "application/json-patch+json"
FIELD_MANAGER = "landinggear-flags"


class OpenFeatureProvider:
    """Switches flags of ``FeatureFlag`` objects in the Rollout's namespace."""

    kind = "openFeature"

    def __init__(
        self, api: ApiClient, *, timeout: RequestTimeout = (5.0, 10.0), attempts: int = 3
    ) -> None:
        self.api = api
        self.timeout = timeout
        self.attempts = attempts

    def switch_off(self, target: FlagTarget, *, reason: str) -> str:
        del reason  # the Rollout's Events and status say why
        spec = target.flag.open_feature
        if spec is None:
            raise FlagError(f"flag {target.flag.name} is not an OpenFeature flag")
        me = holder(target.rollout, target.flag.name)
        plan = self._change(
            target,
            spec.feature_flag,
            lambda obj: plan_off(obj, key=spec.flag, off_variant=spec.off_variant, holder=me),
        )
        return json.dumps(plan.previous, sort_keys=True)

    def restore(self, target: FlagTarget, *, previous: str) -> None:
        del previous  # the annotation on the FeatureFlag is the record that counts holders
        spec = target.flag.open_feature
        if spec is None:
            raise FlagError(f"flag {target.flag.name} is not an OpenFeature flag")
        me = holder(target.rollout, target.flag.name)
        self._change(
            target, spec.feature_flag, lambda obj: plan_restore(obj, key=spec.flag, holder=me)
        )

    def _change(
        self, target: FlagTarget, name: str, plan_for: Callable[[KubeObject], Plan]
    ) -> Plan:
        path = FEATURE_FLAGS.object_path(target.namespace, name)
        where = f"FeatureFlag {target.namespace}/{name}"
        for _ in range(self.attempts):
            obj = self._send("GET", path, where)
            plan = plan_for(obj)
            if not plan.ops or self._patched(path, plan.ops, where):
                return plan
        raise FlagError(f"{where} changed under us {self.attempts} times in a row (409)")

    def _patched(self, path: str, ops: Patch, where: str) -> bool:
        """Sent; False when the object changed since it was read (409)."""
        try:
            self._send("PATCH", path, where, body=ops)
        except _Conflict:
            return False
        return True

    def _send(self, method: str, path: str, where: str, *, body: Patch | None = None) -> KubeObject:
        try:
            answer: KubeObject = request_json(
                self.api,
                method,
                path,
                body=body,
                timeout=self.timeout,
                query=[("fieldManager", FIELD_MANAGER)] if body is not None else [],
                content_type=JSON_PATCH if body is not None else None,
            )
        except ApiException as err:
            if err.status == 409:
                raise _Conflict from err
            if err.status == 404:
                raise FlagError(f"{where} not found") from err
            raise FlagError(f"{method} {where}: {describe(err)}") from err
        except (urllib3.exceptions.HTTPError, OSError) as err:
            raise FlagError(f"{method} {where}: {type(err).__name__}: {err}") from err
        return answer


class _Conflict(Exception):
    pass
