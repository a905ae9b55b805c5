"""The Unleash provider: a feature switched off per environment through Unleash's admin API.

Each switch reads the feature (``GET /api/admin/projects/{project}/features/{feature}``)
and its tags, plans the requests (:mod:`controller.flags.unleash_plan`: holders
and the "was on" mark as tags, then ``/off``), and sends them in order. The
token comes from the Secret named in the spec (``tokenSecretRef``), read in the
Rollout's namespace; the address must be on the admin's allow-list
(``--flag-endpoint``). Requests never follow redirects.

Each request has a timeout; a refused connection, a timeout or a 502/503/504
is tried again within the attempt (tenacity, a few times, within
``timeout`` seconds in all), anything else fails at once. A failure is a
:class:`~controller.flags.FlagError` naming the feature and what the server
said, never the token; the core retries it later with backoff.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import quote

import httpx
from tenacity import Retrying, retry_if_exception, stop_after_attempt, stop_before_delay
from tenacity import wait_exponential as wait_exp

from controller.api.flags import UnleashFlag
from controller.flags import FlagError, FlagTarget
from controller.flags.endpoints import EndpointPolicy
from controller.flags.http import scrub
from controller.flags.secrets import SecretSource
from controller.flags.unleash_plan import (
    TAG_TYPE,
    Feature,
    Plan,
    Step,
    holder,
    plan_off,
    plan_restore,
    previous_text,
)

__all__ = ["UnleashProvider"]

_RETRYABLE = {502, 503, 504}
_TAG_TYPE_BODY = {
    "name": TAG_TYPE,
    "description": "Landing Gear holds this feature off (hold:<env>:<rollout>) and "
    "remembers it was on (was-on:<env>)",
}


class _Transient(FlagError):
    """Worth trying again within the attempt (connection, timeout, 502/503/504)."""


class UnleashProvider:
    """Switches Unleash features off and back on, exactly and reference-counted."""

    kind = "unleash"

    def __init__(
        self,
        secrets: SecretSource,
        endpoints: EndpointPolicy,
        *,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.secrets = secrets
        self.endpoints = endpoints
        self.timeout = timeout
        self.client = httpx.Client(
            timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
            follow_redirects=False,
            transport=transport,
            headers={"User-Agent": "landing-gear", "Accept": "application/json"},
        )

    def switch_off(self, target: FlagTarget, *, reason: str) -> str:
        del reason  # the Rollout's Events and status say why
        plan = _Session(self, target).run(plan_off)
        return previous_text(plan.was_on)

    def restore(self, target: FlagTarget, *, previous: str) -> None:
        del previous  # the tags on the feature are the record that counts holders
        _Session(self, target).run(plan_restore)


class _Session:
    """One switch: the feature's address, the token, and a deadline for all its requests."""

    def __init__(self, provider: UnleashProvider, target: FlagTarget) -> None:
        spec = target.flag.unleash
        if spec is None:
            raise FlagError(f"flag {target.flag.name} is not an Unleash flag")
        self.provider = provider
        self.spec: UnleashFlag = spec
        self.who = holder(target.namespace, target.rollout, target.flag.name)
        self.namespace = target.namespace
        self.base = spec.address.rstrip("/")
        self.where = f"Unleash feature {spec.feature} ({spec.project}/{spec.environment})"
        self.deadline = time.monotonic() + provider.timeout
        self.token = ""

    def run(self, plan_for: Any) -> Plan:
        self.provider.endpoints.check(self.spec.address)
        self.token = self.provider.secrets.read(self.namespace, self.spec.token_secret_ref)
        feature = self._read()
        plan: Plan = plan_for(feature, environment=self.spec.environment, who=self.who)
        if any(s.kind == "add_tag" for s in plan.steps):
            self._send("POST", "/api/admin/tag-types", json=_TAG_TYPE_BODY, ok=(409,))
        for step in plan.steps:
            self._step(step)
        return plan

    def _feature_path(self) -> str:
        return (
            f"/api/admin/projects/{quote(self.spec.project, safe='')}"
            f"/features/{quote(self.spec.feature, safe='')}"
        )

    def _read(self) -> Feature:
        body = self._send("GET", self._feature_path())
        environments = body.get("environments") if isinstance(body, dict) else None
        state = next(
            (
                e
                for e in environments or []
                if isinstance(e, dict) and e.get("name") == self.spec.environment
            ),
            None,
        )
        if state is None:
            raise FlagError(f"{self.where}: the feature has no environment {self.spec.environment}")
        tags = self._send("GET", f"/api/admin/features/{quote(self.spec.feature, safe='')}/tags")
        values = frozenset(
            str(t.get("value"))
            for t in (tags.get("tags") if isinstance(tags, dict) else None) or []
            if isinstance(t, dict) and t.get("type") == TAG_TYPE
        )
        return Feature(enabled=bool(state.get("enabled")), tags=values)

    def _step(self, step: Step) -> None:
        feature = quote(self.spec.feature, safe="")
        if step.kind == "add_tag":
            body = {"type": TAG_TYPE, "value": step.value}
            self._send("POST", f"/api/admin/features/{feature}/tags", json=body)
        elif step.kind == "remove_tag":
            value = quote(step.value, safe="")
            path = f"/api/admin/features/{feature}/tags/{TAG_TYPE}/{value}"
            self._send("DELETE", path, ok=(404,))
        else:
            env = quote(self.spec.environment, safe="")
            self._send("POST", f"{self._feature_path()}/environments/{env}/{step.kind}")

    def _send(self, method: str, path: str, *, json: Any = None, ok: tuple[int, ...] = ()) -> Any:
        retrying = Retrying(
            stop=stop_after_attempt(3) | stop_before_delay(max(self._left(), 0.0)),
            wait=wait_exp(multiplier=0.2, max=1.0),
            retry=retry_if_exception(lambda err: isinstance(err, _Transient)),
            reraise=True,
        )
        return retrying(self._once, method, path, json, ok)

    def _left(self) -> float:
        return self.deadline - time.monotonic()

    def _once(self, method: str, path: str, json: Any, ok: tuple[int, ...]) -> Any:
        left = self._left()
        if left <= 0:
            raise FlagError(f"{self.where}: no answer within {self.provider.timeout:g}s")
        try:
            response = self.provider.client.request(
                method,
                self.base + path,
                json=json,
                headers={"Authorization": self.token},
                timeout=httpx.Timeout(left, connect=min(left, 5.0)),
            )
        except httpx.TimeoutException as err:
            raise _Transient(f"{self.where}: {method} timed out ({type(err).__name__})") from None
        except httpx.TransportError as err:
            raise _Transient(f"{self.where}: cannot reach {self.base}: {err}") from None
        status = response.status_code
        if 200 <= status < 300 or status in ok:
            return response.json() if response.content and method == "GET" else None
        message = scrub(_message(response), self.token)  # a server may echo the request
        if status in (401, 403):
            raise FlagError(
                f"{self.where}: Unleash refused the token from Secret "
                f"{self.namespace}/{self.spec.token_secret_ref.name} ({status}: {message})"
            )
        if status == 404:
            raise FlagError(f"{self.where}: not found ({message})")
        if 300 <= status < 400:
            raise FlagError(f"{self.where}: {method} answered a redirect ({status}), not followed")
        error = _Transient if status in _RETRYABLE else FlagError
        raise error(f"{self.where}: {method} {path}: {status} {message}")


def _message(response: httpx.Response) -> str:
    """The server's error message, short and printable."""
    try:
        body = response.json()
        text = str(body.get("message") or body) if isinstance(body, dict) else str(body)
    except ValueError:
        text = response.text
    printable = "".join(c if c.isprintable() else " " for c in text).strip()
    return printable[:200] or response.reason_phrase
