"""The LaunchDarkly provider: a flag turned off, and back on, in one environment, over REST.

Each switch reads the flag (``GET /api/v2/flags/{project}/{flag}?env={env}``),
computes the change (:mod:`controller.flags.launchdarkly_plan`: my hold, the
was-on mark, off or on) and sends it as one semantic patch
(``PATCH /api/v2/flags/{project}/{flag}``, ``Content-Type: application/json;
domain-model=launchdarkly.semanticpatch``), then plans again from the flag the
PATCH answers with until nothing is left to do. Holders are counted in tags on
the flag, so two Rollouts naming one flag keep it off until both have restored
it, and every switch is idempotent and safe to retry after a crash at any point.

The API access token comes from the flag's ``tokenSecretRef`` in the Rollout's
namespace and is sent as ``Authorization: <token>`` (LaunchDarkly takes it bare);
it never appears in an error: any text that would carry it is scrubbed. The
base URL is the admin's (``--launchdarkly-address``), so it is not checked
against the flag-endpoint allow-list; redirects are never followed.

Failures are :class:`~controller.flags.FlagError` naming the project, flag,
environment and LaunchDarkly's answer:

- 401/403: LaunchDarkly refused the token (which Secret it came from);
- 404: no such flag or project; 400: LaunchDarkly's own message;
- 409 (a concurrent change): read again and re-plan, a few times;
- 429: wait as ``Retry-After`` / ``X-Ratelimit-Reset`` (epoch milliseconds) say,
  if that is within ``timeout``; otherwise fail saying when the limit resets
  (the core retries later, with backoff);
- 5xx, network errors, timeouts: the cause.

Each request is bounded by ``timeout`` (see :mod:`controller.flags.http`); one
switch makes at most one GET per 409 plus ``attempts`` PATCHes and as many
rate-limit waits, each at most ``timeout``.
"""

from __future__ import annotations

import email.utils
import json
import math
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx

from controller.api.flags import LaunchDarklyFlag
from controller.flags import FlagError, FlagTarget
from controller.flags.http import Answer, excerpt, exchange, scrub
from controller.flags.launchdarkly_plan import (
    FlagView,
    Instruction,
    Tags,
    holder,
    plan_off,
    plan_restore,
    previous_text,
    read_flag,
)
from controller.flags.secrets import SecretSource

__all__ = ["LaunchDarklyProvider"]

DEFAULT_BASE_URL = "https://app.launchdarkly.com"
SEMANTIC_PATCH = "application/json; domain-model=launchdarkly.semanticpatch"
API_VERSION = "20220603"
"""Pinned with ``LD-API-Version``, as LaunchDarkly recommends, so a token's default
version cannot change the answers' shape."""
DEFAULT_RATE_LIMIT_WAIT = 1.0
"""How long to wait on a 429 that says nothing about when to come back."""

Plan = Callable[[FlagView], list[Instruction]]


class LaunchDarklyProvider:
    """Turns LaunchDarkly flags off and back on, reference-counted across Rollouts."""

    kind = "launchDarkly"

    def __init__(
        self,
        secrets: SecretSource,
        *,
        base_url: str = DEFAULT_BASE_URL,
        timeout: float = 10.0,
        client: httpx.Client | None = None,
        attempts: int = 4,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.secrets = secrets
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.client = client or httpx.Client(follow_redirects=False, timeout=timeout)
        self.attempts = attempts
        self.sleep = sleep
        self.clock = clock

    def close(self) -> None:
        self.client.close()

    def switch_off(self, target: FlagTarget, *, reason: str) -> str:
        return self._run(target, plan_off, comment=f"Landing Gear: {reason}")

    def restore(self, target: FlagTarget, *, previous: str) -> None:
        del previous  # the tags on the flag are the record that counts holders
        comment = f"Landing Gear: restored for Rollout {target.namespace}/{target.rollout}"
        self._run(target, plan_restore, comment=comment)

    def _run(
        self,
        target: FlagTarget,
        plan: Callable[[FlagView, Tags], list[Instruction]],
        *,
        comment: str,
    ) -> str:
        spec = target.flag.launch_darkly
        if spec is None:
            raise FlagError(f"flag {target.flag.name} is not a LaunchDarkly flag")
        token = ""
        try:
            token = self.secrets.read(target.namespace, spec.token_secret_ref)
            if not token.isascii() or not token.isprintable():
                raise FlagError(
                    f"the token in Secret {target.namespace}/{spec.token_secret_ref.name} "
                    "is not a valid HTTP header value"
                )
            session = _Session(self, target, spec, token)
            tags = Tags.of(
                environment=spec.environment,
                holder=holder(target.namespace, target.rollout, target.flag.name),
            )
            view = session.settle(lambda v: plan(v, tags), comment=comment)
            return previous_text(view, tags)
        except FlagError as err:
            raise FlagError(scrub(str(err), token)) from None
        except Exception as err:  # never anything but FlagError out of a provider
            raise FlagError(
                f"LaunchDarkly flag {spec.project}/{spec.flag}: unexpected "
                f"{type(err).__name__}: {scrub(str(err), token)}"
            ) from None


class _Conflict(Exception):
    """LaunchDarkly answered 409: the flag changed concurrently."""


class _Session:
    """One switch of one flag: the token, the flag's address, and the requests."""

    def __init__(
        self, provider: LaunchDarklyProvider, target: FlagTarget, spec: LaunchDarklyFlag, token: str
    ) -> None:
        self.provider = provider
        self.spec = spec
        self.token = token
        self.secret = f"Secret {target.namespace}/{spec.token_secret_ref.name}"
        self.where = (
            f"LaunchDarkly flag {spec.project}/{spec.flag} in environment {spec.environment}"
        )
        self.url = (
            f"{provider.base_url}/api/v2/flags/{quote(spec.project, safe='')}/"
            f"{quote(spec.flag, safe='')}"
        )

    def settle(self, plan: Plan, *, comment: str) -> FlagView:
        """Read, then send what ``plan`` asks until it asks for nothing; the flag as left."""
        attempts = self.provider.attempts
        view = self.read()
        for attempt in range(attempts + 1):
            instructions = plan(view)
            if not instructions:
                return view
            if attempt == attempts:
                break
            try:
                view = self.patch(instructions, comment=comment)
            except _Conflict:
                view = self.read()
        raise FlagError(
            f"{self.where}: still changing after {attempts} changes "
            "(others are changing it at the same time); will retry"
        )

    def read(self) -> FlagView:
        answer = self.send("GET", params={"env": self.spec.environment})
        if answer.status == 409:
            raise FlagError(f"{self.where}: GET answered 409 Conflict")
        return read_flag(self.json(answer), self.spec.environment, where=self.where)

    def patch(self, instructions: list[Instruction], *, comment: str) -> FlagView:
        """Send one semantic patch; the flag as it answered (read again if it did not say)."""
        body = {
            "environmentKey": self.spec.environment,
            "comment": comment,
            "instructions": instructions,
        }
        content = json.dumps(body, separators=(",", ":")).encode("utf-8")
        answer = self.send("PATCH", content=content)
        if answer.status == 409:
            raise _Conflict
        try:
            return read_flag(self.json(answer), self.spec.environment, where=self.where)
        except FlagError:
            return self.read()  # changed; the answer just did not show the environment

    def send(
        self, method: str, *, params: dict[str, str] | None = None, content: bytes | None = None
    ) -> Answer:
        """One request, waiting out rate limits within the bound; errors as FlagError."""
        provider = self.provider
        headers = {
            "Authorization": self.token,
            "Accept": "application/json",
            "LD-API-Version": API_VERSION,
        }
        if content is not None:
            headers["Content-Type"] = SEMANTIC_PATCH
        for _ in range(provider.attempts):
            answer = exchange(
                provider.client,
                method,
                self.url,
                where=f"{self.where}: {method}",
                timeout=provider.timeout,
                headers=headers,
                params=params,
                content=content,
            )
            if answer.status != 429:
                if answer.status < 300 or answer.status == 409:
                    return answer
                raise FlagError(self.refused(method, answer))
            wait = rate_limit_wait(answer.headers, now=provider.clock())
            if wait > provider.timeout:
                resets = datetime.fromtimestamp(provider.clock() + wait, tz=UTC)
                raise FlagError(
                    f"{self.where}: LaunchDarkly's rate limit was reached (429); it resets at "
                    f"{resets.isoformat(timespec='seconds')} (in {wait:.0f}s); will retry later"
                )
            provider.sleep(wait)
        raise FlagError(
            f"{self.where}: LaunchDarkly's rate limit was reached (429) "
            f"{provider.attempts} times in a row; will retry later"
        )

    def refused(self, method: str, answer: Answer) -> str:
        status = answer.status
        said = _message(answer.body)
        tail = f": {said}" if said else ""
        if status in (401, 403):
            hint = "; it needs permission to update the flag's targeting and tags"
            return (
                f"LaunchDarkly refused the token from {self.secret} for flag "
                f"{self.spec.project}/{self.spec.flag} in environment {self.spec.environment} "
                f"({status} {answer.reason}){tail}{hint if status == 403 else ''}"
            )
        if status == 404:
            return (
                f"{self.where}: not found (404): no flag {self.spec.flag!r} in project "
                f"{self.spec.project!r}{tail}"
            )
        if status == 400:
            return f"{self.where}: LaunchDarkly rejected the {method} (400){tail}"
        if status >= 500:
            return f"{self.where}: LaunchDarkly failed ({status} {answer.reason}){tail}"
        return f"{self.where}: {method} answered {status} {answer.reason}{tail}"

    def json(self, answer: Answer) -> Any:
        try:
            return json.loads(answer.body)
        except ValueError:
            raise FlagError(
                f"{self.where}: LaunchDarkly's answer ({answer.status}) is not JSON: "
                f"{excerpt(answer.body)}"
            ) from None


def _message(body: bytes) -> str:
    """LaunchDarkly's error ``message`` (its errors are ``{code, message, id}``), else an
    excerpt of the body."""
    try:
        parsed = json.loads(body)
    except ValueError:
        return excerpt(body)
    if isinstance(parsed, dict) and isinstance(parsed.get("message"), str):
        return excerpt(parsed["message"].encode("utf-8"))
    return excerpt(body)


def rate_limit_wait(headers: httpx.Headers, *, now: float) -> float:
    """Seconds to wait after a 429: the later of ``Retry-After`` (seconds or an HTTP
    date) and ``X-Ratelimit-Reset`` (epoch milliseconds); a default if neither says."""
    waits = [
        wait
        for wait in (
            _retry_after(headers.get("Retry-After", ""), now=now),
            _number(headers.get("X-Ratelimit-Reset", ""), scale=0.001, minus=now),
        )
        if wait is not None
    ]
    if not waits:
        return DEFAULT_RATE_LIMIT_WAIT
    return max(0.0, *waits)


def _retry_after(text: str, *, now: float) -> float | None:
    seconds = _number(text)
    if seconds is not None or not text.strip():
        return seconds
    try:
        return email.utils.parsedate_to_datetime(text.strip()).timestamp() - now
    except (TypeError, ValueError):
        return None


def _number(text: str, *, scale: float = 1.0, minus: float = 0.0) -> float | None:
    try:
        value = float(text.strip()) * scale - minus
    except ValueError:
        return None
    return value if math.isfinite(value) else None
