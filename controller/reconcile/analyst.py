"""Taking the analysis' measurements in Prometheus: counts for comparisons, values for rules.

The core says which looks are due (:func:`controller.core.looks.plan`); this
module runs their queries and hands the results back:

* a comparison (``builtin``) counts each revision's requests and bad requests
  since the analysis started (the core takes the part that is new, so a missed
  scrape delays counts but never loses them). The counts are exact: raw counter
  samples at the analysis' start and now, subtracted series by series
  (:mod:`controller.providers.counters`), never Prometheus' extrapolated
  ``increase()``. A selector that matches nothing means no requests (a canary
  without traffic is never judged bad: the ``noData`` policy settles it at the
  next gate); counters that are no whole numbers are an error. During the guard
  only the new stable is counted, since the guard started; its baseline was
  measured while it was the canary;
* a threshold rule renders its query (``${window}`` = its interval) and expects
  one value; nothing or NaN is "no data", several series an error.

Before any request, the admin's rules are checked (:mod:`controller.providers.access`):
the address must be allowed (``--prometheus-endpoint``, or the default address),
and a threshold rule runs on the default Prometheus only for an allowed
namespace. A ``bearerTokenSecret`` is read from the Rollout's namespace off the
loop and kept a minute (``controller.backends.METRIC_SECRET_TTL``; dropped at
once when Prometheus answers 401 or 403, so a rotated token takes effect at the
next look) and never appears in a message. A refusal, like an unreadable
Secret, makes the metric inconclusive: the release holds with the reason in its
status, and goes on once the Rollout or the settings are fixed.

A failed query is an error, which the core counts towards holding (or, with
``onError: fail``, aborting) the release — never towards a success. A query
that cannot be built (a bad template, a bad label name) makes the metric
inconclusive at once: nothing can be measured until the Rollout is fixed.

Looks run on an event loop of their own (:mod:`controller.reconcile.measuring`),
never on a reconcile worker. Each provider runs at most ``PER_PROVIDER_LOOKS``
looks at once, each asking one query at a time, and at most ``MAX_PROVIDERS``
stay open (the least recently used is closed). A look waits for its turn as long
as the provider keeps answering (:mod:`controller.reconcile.slots`): with more
analyses than Prometheus serves, the controller is behind and its looks are late
(``on_wait`` is told how late), not failed — failing them would hold every release
as inconclusive. Once its turn comes, a look has a total deadline (one attempt's
timeout after the provider's retry budget), enforced by cancellation, so a server
that trickles bytes or never answers costs its own looks an error and nothing
more; a look still waiting when the provider has answered nothing for that long
fails the same way.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
from collections import OrderedDict
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass
from datetime import datetime

import pydantic
import structlog

from controller.api.analysis import Analysis, Metric, PrometheusRef, Stage
from controller.api.flags import SecretKeyRef
from controller.api.v1alpha1 import Rollout
from controller.core import looks
from controller.core.measurements import Measurement, Measurements
from controller.flags import FlagError
from controller.flags.secrets import CachedSecrets, SecretSource
from controller.judge.sequential import Window
from controller.providers import (
    MetricProvider,
    ProviderConfigError,
    ProviderError,
    ProviderHTTPStatus,
)
from controller.providers.access import MetricAccess
from controller.providers.counters import (
    CountError,
    Counts,
    MetricTemplate,
    SettledReads,
    counts,
)
from controller.providers.prometheus import PrometheusProvider
from controller.providers.prometheus_config import PrometheusConfig, PrometheusOverride, resolve
from controller.providers.templates import QueryTemplate, Role, TemplateError, Variables
from controller.reconcile.slots import ProviderSlot
from controller.reconcile.templates import template

log = structlog.get_logger("landinggear.analysis")


MAX_PROVIDERS = 64
"""Providers (one per Prometheus configuration) kept open; the least recently used
beyond this is closed."""

MAX_REFUSALS = 4096
"""Refusals remembered (to log each once); the oldest beyond this is forgotten."""


class Analyst:
    """Measures for the reconciler; one provider per Prometheus configuration.

    Runs on the measurements' event loop (:mod:`controller.reconcile.measuring`),
    never on a reconcile worker.
    """

    def __init__(
        self,
        *,
        default: PrometheusConfig | None,
        endpoints: Iterable[str] = (),
        threshold_namespaces: Iterable[str] = (),
        secrets: SecretSource | None = None,
        connect: Callable[[PrometheusConfig], MetricProvider] = PrometheusProvider,
        max_providers: int = MAX_PROVIDERS,
        on_looks: Callable[[tuple[Measurement, ...]], None] | None = None,
        on_provider_error: Callable[[str, str], None] | None = None,
        on_wait: Callable[[float], None] | None = None,
    ) -> None:
        self.default = default
        self.access = MetricAccess(
            default=None if default is None else default.address,
            endpoints=endpoints,
            threshold_namespaces=threshold_namespaces,
        )
        """The admin's allow-list of addresses and threshold namespaces (checked first)."""
        self.secrets = secrets
        """Reads a Rollout's ``bearerTokenSecret`` (None: such metrics are refused)."""
        self.on_looks = on_looks
        """Told of every look taken (metrics)."""
        self.on_provider_error = on_provider_error
        """Told ``("prometheus", kind)`` of every failed query (metrics)."""
        self.on_wait = on_wait
        """Told the seconds every look waited for its turn at its provider (metrics)."""
        self.connect = connect
        self.max_providers = max_providers
        self._providers: OrderedDict[str, ProviderSlot] = OrderedDict()
        self._refused: OrderedDict[tuple[str, str, str], str] = OrderedDict()
        """Why each (namespace, Rollout, metric) was last refused: logged once a change,
        as its MetricUnmeasurable Event is, not on every look."""

    def provider(self, spec: Analysis, metric: Metric, *, namespace: str = "") -> MetricProvider:
        """The provider for ``metric`` of a Rollout without a ``bearerTokenSecret``
        (raises ProviderConfigError when refused)."""
        config, secret = self.config(spec, metric, namespace=namespace)
        if secret is not None:
            raise ProviderConfigError("a bearerTokenSecret is read on the measurements' loop")
        return self._slot(config).provider

    async def _provider_for(
        self, where: PrometheusRef, metric: Metric, namespace: str
    ) -> tuple[ProviderSlot, SecretKeyRef | None]:
        """The slot for ``metric``, its Secret's token read off the loop, and that Secret."""
        config, secret = self._config(where, metric, namespace=namespace)
        token = ""
        if secret is not None:
            if self.secrets is None:
                raise ProviderConfigError("this controller reads no Secrets for metrics")
            try:
                token = await asyncio.to_thread(self.secrets.read, namespace, secret)
            except FlagError as err:  # its messages never hold the value
                raise ProviderConfigError(f"prometheus.bearerTokenSecret: {err}") from None
            config = config.model_copy(update={"bearer_token": pydantic.SecretStr(token)})
        return self._slot(config, token=token), secret

    def _slot(self, config: PrometheusConfig, *, token: str = "") -> ProviderSlot:
        key = config.model_dump_json()  # secrets masked: their digest tells them apart
        if token:
            key += "#" + hashlib.sha256(token.encode()).hexdigest()
        slot = self._providers.get(key)
        if slot is None:
            slot = ProviderSlot(config=config, provider=self.connect(config))
            self._providers[key] = slot
            while len(self._providers) > self.max_providers:
                _, evicted = self._providers.popitem(last=False)
                evicted.close_later()
        self._providers.move_to_end(key)
        return slot

    def config(
        self, spec: Analysis, metric: Metric, *, namespace: str
    ) -> tuple[PrometheusConfig, SecretKeyRef | None]:
        """The Prometheus ``metric`` of a Rollout in ``namespace`` is measured on, and the
        Secret holding its token, if any. Raises ProviderConfigError when the admin's
        settings refuse it — before any request is made."""
        return self._config(spec.prometheus, metric, namespace=namespace)

    def _config(
        self, where: PrometheusRef, metric: Metric, *, namespace: str
    ) -> tuple[PrometheusConfig, SecretKeyRef | None]:
        """:meth:`config` for an analysis whose ``prometheus`` is ``where``."""
        ref = metric.prometheus if metric.prometheus and metric.prometheus.address else None
        ref = ref or where
        if (
            metric.prometheus
            and metric.prometheus.bearer_token_secret
            and ref is not metric.prometheus
        ):
            raise ProviderConfigError("prometheus.bearerTokenSecret needs an address beside it")
        try:
            override = PrometheusOverride(address=ref.address) if ref.address else None
        except pydantic.ValidationError as err:  # its messages never echo the input
            reasons = "; ".join(str(e["msg"]) for e in err.errors())
            raise ProviderConfigError(f"prometheus address: {reasons}") from None
        config = resolve(self.default, override)
        self.access.check_address(config.address)
        if ref.bearer_token_secret is not None:
            self.access.check_own_credentials(config.address)
        elif metric.threshold is not None:
            self.access.check_threshold(namespace, config.address)
        return config, ref.bearer_token_secret

    async def aclose(self) -> None:
        """Close every provider."""
        slots, self._providers = list(self._providers.values()), OrderedDict()
        for slot in slots:
            await slot.provider.aclose()

    async def measure(self, rollout: Rollout, now: datetime) -> Measurements | None:
        """The looks due at ``now`` (canary, or post-promotion guard), or None if none is."""
        spec = rollout.spec.strategy.canary.analysis
        if spec is None:
            return None
        target = looks.target(spec, rollout.status, now=now)
        if target is None:
            return None
        due = looks.plan(spec, target.current, now=now)
        if not due:
            return None
        return await self.measure_due(Subject.of(rollout), spec, target, due, now)

    def measure_due(
        self,
        subject: Subject,
        spec: Analysis,
        target: looks.Target,
        due: list[looks.Due],
        now: datetime,
    ) -> Coroutine[None, None, Measurements]:
        """The looks ``due`` for ``target``, taken concurrently, each within its deadline.

        The looks hold the analysis' Prometheus and the few fields of ``target`` they
        read, not ``spec`` and ``target`` themselves: parsed, those were ~8 KB per
        Rollout, and when Prometheus falls behind every Rollout in analysis has a
        look waiting."""
        return self._measure(subject, spec.prometheus, Aim.of(target), due, now)

    async def _measure(
        self,
        subject: Subject,
        where: PrometheusRef,
        aim: Aim,
        due: list[looks.Due],
        now: datetime,
    ) -> Measurements:
        results = await asyncio.gather(*(self._bounded(subject, where, aim, d, now) for d in due))
        if self.on_looks is not None:
            self.on_looks(tuple(results))
        return Measurements(
            revision=aim.revision,
            at=now,
            results=tuple(results),
            stage=aim.stage,
            started_at=aim.since,
        )

    async def _bounded(
        self,
        subject: Subject,
        where: PrometheusRef,
        aim: Aim,
        due: looks.Due,
        now: datetime,
    ) -> Measurement:
        """One look within its total deadline: one attempt's timeout after the retry budget."""
        name = due.metric.name
        try:
            slot, secret = await self._provider_for(where, due.metric, subject.namespace)
        except ProviderConfigError as err:
            self._log_refusal((subject.namespace, subject.name, name), str(err))
            return Measurement(metric=name, invalid=str(err))
        self._refused.pop((subject.namespace, subject.name, name), None)
        deadline = slot.config.timeout_seconds + slot.config.retry_budget_seconds
        try:
            async with slot.turn(deadline, on_wait=self.on_wait):
                async with asyncio.timeout(deadline):
                    return await self._look(subject, aim, due, slot, now, secret=secret)
        except TimeoutError:
            log.warning("Measurement timed out", metric=name, seconds=deadline)
            self._provider_error("timeout")
            return Measurement(metric=name, error=f"no answer within {deadline:g}s")

    async def _look(
        self,
        subject: Subject,
        aim: Aim,
        due: looks.Due,
        slot: ProviderSlot,
        now: datetime,
        *,
        secret: SecretKeyRef | None = None,
    ) -> Measurement:
        metric = due.metric
        variables = Variables(
            rollout=subject.name,
            namespace=subject.namespace,
            service=subject.service,
            canary=aim.revision,
            stable=aim.other,
            window=f"{due.window}s",
        )
        provider = slot.watched()
        try:
            if metric.threshold is not None:
                query = QueryTemplate(metric.threshold.query)
                return await _value(provider, metric, query, variables, now)
            return await _counts(
                provider,
                metric,
                template(metric),
                variables,
                since=aim.since or now,
                now=now,
                stage=aim.stage,
                settled=slot.settled,
            )
        except (TemplateError, ProviderConfigError) as err:
            return Measurement(metric=metric.name, invalid=str(err))
        except (ProviderError, CountError) as err:
            log.warning("Measurement failed", metric=metric.name, error=str(err))
            if isinstance(err, ProviderError):
                self._provider_error(err.kind)
            refused = isinstance(err, ProviderHTTPStatus) and err.status in (401, 403)
            if refused and secret is not None and isinstance(self.secrets, CachedSecrets):
                self.secrets.forget(subject.namespace, secret)
            return Measurement(metric=metric.name, error=str(err))

    def _log_refusal(self, key: tuple[str, str, str], why: str) -> None:
        namespace, rollout, metric = key
        level = log.debug if self._refused.get(key) == why else log.warning
        level("Measurement refused", namespace=namespace, rollout=rollout, metric=metric, error=why)
        self._refused[key] = why
        self._refused.move_to_end(key)
        while len(self._refused) > MAX_REFUSALS:
            self._refused.popitem(last=False)

    def _provider_error(self, kind: str) -> None:
        if self.on_provider_error is not None:
            self.on_provider_error("prometheus", kind)


@dataclass(frozen=True, kw_only=True)
class Aim:
    """What a look reads of its :class:`~controller.core.looks.Target`."""

    stage: Stage
    revision: str
    other: str
    """The stable (canary stage) or the previous revision (guard)."""
    since: datetime | None
    """When the analysis started."""

    @classmethod
    def of(cls, target: looks.Target) -> Aim:
        return cls(
            stage=target.stage,
            revision=target.revision,
            other=target.other,
            since=target.current.started_at,
        )


@dataclass(frozen=True, kw_only=True)
class Subject:
    """All a look reads of its Rollout. A look in flight holds this, not the Rollout:
    parsed with a full history that is ~50 KB, and when Prometheus falls behind every
    Rollout in analysis has a look waiting (1,000 of them held 48 MB in a run)."""

    namespace: str
    name: str
    service: str
    """The workload's name, the ``{{service}}`` of a query."""

    @classmethod
    def of(cls, rollout: Rollout) -> Subject:
        return cls(
            namespace=rollout.namespace, name=rollout.name, service=rollout.spec.workload_ref.name
        )


async def _counts(
    provider: MetricProvider,
    metric: Metric,
    queries: MetricTemplate,
    variables: Variables,
    *,
    since: datetime,
    now: datetime,
    stage: Stage,
    settled: SettledReads | None = None,
) -> Measurement:
    """Both revisions' counts (the guard: the new stable's) from ``since`` to ``now``."""
    roles = (Role.CANARY,) if stage == Stage.GUARD else (Role.CANARY, Role.STABLE)
    found = {
        role: await counts(
            provider, queries, variables, role, since=since, now=now, settled=settled
        )
        for role in roles
    }
    canary = _pair(found.get(Role.CANARY))
    stable = _pair(found.get(Role.STABLE))
    return Measurement(
        metric=metric.name,
        window=Window(
            canary_requests=canary[0],
            canary_bad=canary[1],
            stable_requests=stable[0],
            stable_bad=stable[1],
        ),
    )


def _pair(found: object) -> tuple[float, float]:
    """The judge's floats; exact whole numbers of requests."""
    if isinstance(found, Counts):
        return float(found.requests), float(found.bad)
    return 0.0, 0.0  # no series: no requests in the window


async def _value(
    provider: MetricProvider,
    metric: Metric,
    query: QueryTemplate,
    variables: Variables,
    now: datetime,
) -> Measurement:
    text = query.render(variables.for_role(Role.CANARY))
    samples = await provider.query(text, at=now)
    if len(samples) > 1:
        return Measurement(
            metric=metric.name,
            error=f"the query returned {len(samples)} series; aggregate them to one value "
            "(e.g. sum(...))",
        )
    if not samples or math.isnan(samples[0].value):
        return Measurement(metric=metric.name)  # no data
    return Measurement(metric=metric.name, value=samples[0].value)
