"""``counts``: exact requests and bad requests from raw counter samples at two times.

The provider is a fake answering each (selector, time) with given raw samples
(``history.History``); what a real Prometheus answers is checked in
``tests/cluster/providers/test_real_prometheus.py``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from controller.providers import ErrorKind, ProviderError, Sample
from controller.providers.builtin_metrics import app_errors, app_latency
from controller.providers.counters import (
    CountError,
    CounterSum,
    Counts,
    MetricTemplate,
    NoData,
    SettledReads,
    counts,
)
from controller.providers.templates import Role
from tests.support.aio import synchronously
from tests.unit.providers.fakes import ScriptedPrometheus, make_provider, vector
from tests.unit.providers.history import (
    COUNT,
    FAILED,
    FAST,
    REQUESTS,
    VARIABLES,
    History,
    sample,
)

SINCE = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
NOW = SINCE + timedelta(minutes=3)


def served(*, before: list[Sample], after: list[Sample]) -> History:
    """The request counter's series at both times; the 5xx selector sees the ``code=5..`` ones."""

    def failed(samples: list[Sample]) -> list[Sample]:
        return [s for s in samples if s.labels.get("code", "").startswith("5")]

    return History(
        {
            (REQUESTS, SINCE): before,
            (REQUESTS, NOW): after,
            (FAILED, SINCE): failed(before),
            (FAILED, NOW): failed(after),
        }
    )


async def errors(provider: History, role: Role = Role.CANARY) -> Counts | NoData:
    return await counts(provider, app_errors(), VARIABLES, role, since=SINCE, now=NOW)


async def latency(provider: History) -> Counts | NoData:
    metric = app_latency(bound_seconds=0.25)
    return await counts(provider, metric, VARIABLES, Role.CANARY, since=SINCE, now=NOW)


@synchronously
async def test_a_count_is_the_difference_of_raw_samples_between_start_and_now() -> None:
    provider = served(
        before=[sample(100, code="200"), sample(5, code="500")],
        after=[sample(160, code="200"), sample(9, code="500")],
    )
    assert await errors(provider) == Counts(requests=64, bad=4)
    assert {at for _, at in provider.calls} == {SINCE, NOW}
    assert {query for query, _ in provider.calls} == {REQUESTS, FAILED}


@synchronously
async def test_a_series_absent_at_start_counts_from_zero() -> None:
    provider = served(before=[], after=[sample(40, code="200"), sample(3, code="500")])
    assert await errors(provider) == Counts(requests=43, bad=3)


@synchronously
async def test_a_reset_counter_counts_from_zero() -> None:
    provider = served(before=[sample(100, code="200")], after=[sample(30, code="200")])
    assert await errors(provider) == Counts(requests=30, bad=0)


@synchronously
async def test_several_series_are_summed() -> None:
    provider = served(
        before=[sample(10, pod="a", code="200"), sample(7, pod="b", code="200")],
        after=[
            sample(15, pod="a", code="200"),
            sample(27, pod="b", code="200"),
            sample(2, pod="b", code="503"),
        ],
    )
    assert await errors(provider) == Counts(requests=5 + 20 + 2, bad=2)


@synchronously
async def test_a_series_gone_by_now_adds_nothing() -> None:
    provider = served(
        before=[sample(50, pod="a", code="200"), sample(10, pod="b", code="200")],
        after=[sample(25, pod="b", code="200")],
    )
    assert await errors(provider) == Counts(requests=15, bad=0)


@synchronously
async def test_no_request_series_now_is_no_data_not_zero() -> None:
    provider = served(before=[sample(50, code="200")], after=[])
    result = await errors(provider, Role.STABLE)
    assert result == NoData(
        role=Role.STABLE, query='http_requests_total{namespace="shop", revision="st4bl3"}'
    )
    assert "no data for the stable revision" in str(result)


@synchronously
async def test_a_revision_without_5xx_series_has_zero_bad_not_no_data() -> None:
    provider = served(before=[sample(3, code="200")], after=[sample(80, code="200")])
    assert await errors(provider) == Counts(requests=77, bad=0)


@pytest.mark.parametrize("value", [12.5, float("nan"), float("inf")])
@synchronously
async def test_a_counter_that_is_not_a_whole_number_is_an_error(value: float) -> None:
    provider = served(before=[sample(3, code="200")], after=[sample(value, code="200")])
    with pytest.raises(CountError, match="whole requests"):
        await errors(provider)


@synchronously
async def test_float_noise_on_a_whole_number_is_tolerated() -> None:
    provider = served(before=[sample(3, code="200")], after=[sample(10.0 + 1e-12, code="200")])
    assert await errors(provider) == Counts(requests=7, bad=0)


@synchronously
async def test_latency_bad_is_the_count_less_the_bucket() -> None:
    provider = History(
        {
            (COUNT, SINCE): [sample(100, pod="a")],
            (FAST, SINCE): [sample(90, pod="a", le="0.25")],
            (COUNT, NOW): [sample(150, pod="a"), sample(20, pod="b")],
            (FAST, NOW): [sample(132, pod="a", le="0.25"), sample(19, pod="b", le="0.25")],
        }
    )
    assert await latency(provider) == Counts(requests=50 + 20, bad=(50 - 42) + (20 - 19))


@synchronously
async def test_a_reset_no_series_shows_loses_increments_but_never_makes_them_up() -> None:
    """Both series are higher now, yet fewer requests are slow than at the start: a reset
    no single series shows. The slow count is never below 0 nor above the requests."""
    provider = History(
        {
            (COUNT, SINCE): [sample(100, pod="a")],
            (FAST, SINCE): [sample(90, pod="a", le="0.25")],
            (COUNT, NOW): [sample(101, pod="a")],
            (FAST, NOW): [sample(95, pod="a", le="0.25")],
        }
    )
    assert await latency(provider) == Counts(requests=1, bad=0)


@synchronously
async def test_a_reset_seen_on_the_count_restarts_the_bucket_too() -> None:
    """Series by series this would be 40 requests and 40 - 20 = 20 slow: the 10 fast
    requests the bucket held before the reset would be counted as slow."""
    provider = History(
        {
            (COUNT, SINCE): [sample(100, pod="a")],
            (FAST, SINCE): [sample(10, pod="a", le="0.25")],
            (COUNT, NOW): [sample(40, pod="a")],
            (FAST, NOW): [sample(30, pod="a", le="0.25")],
        }
    )
    assert await latency(provider) == Counts(requests=40, bad=10)


@synchronously
async def test_a_latency_bound_that_is_no_bucket_is_no_data() -> None:
    provider = History({(COUNT, SINCE): [sample(1, pod="a")], (COUNT, NOW): [sample(9, pod="a")]})
    assert await latency(provider) == NoData(role=Role.CANARY, query=FAST)


@synchronously
async def test_a_scrape_landing_between_the_reads_of_now_never_adds_slow_requests() -> None:
    """Before the scrape 10 requests, 2 slow; after it 20, still 2 slow (10 fast ones came)."""
    landed = False

    def count() -> list[Sample]:
        nonlocal landed
        value, landed = (20 if landed else 10), True
        return [sample(value, pod="a")]

    def fast() -> list[Sample]:
        nonlocal landed
        value, landed = (18 if landed else 8), True
        return [sample(value, pod="a", le="0.25")]

    provider = History({(COUNT, NOW): count, (FAST, NOW): fast})
    result = await latency(provider)
    assert isinstance(result, Counts)
    assert result.bad <= 2


@synchronously
async def test_more_bad_than_requests_is_an_error() -> None:
    metric = MetricTemplate.uniform(
        name="mismatched",
        requests=CounterSum.of('a_total{revision="${revision}"}'),
        bad=CounterSum.of('b_total{revision="${revision}"}'),
    )
    provider = History(
        {
            ('a_total{revision="c4n4ry"}', NOW): [sample(5)],
            ('b_total{revision="c4n4ry"}', NOW): [sample(8)],
        }
    )
    with pytest.raises(CountError, match="8 bad of 5 requests"):
        await counts(provider, metric, VARIABLES, Role.CANARY, since=SINCE, now=NOW)


@synchronously
async def test_series_that_differ_only_in_le_are_an_error() -> None:
    provider = History(
        {
            (COUNT, NOW): [sample(9, pod="a")],
            (FAST, NOW): [sample(5, pod="a", le="0.25"), sample(6, pod="a", le="0.250")],
        }
    )
    with pytest.raises(CountError, match="differ only in __name__ or le"):
        await latency(provider)


@synchronously
async def test_counts_over_http_pin_the_start_and_now() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        query, at = request.url.params["query"], float(request.url.params["time"])
        value = {(REQUESTS, NOW): "40", (REQUESTS, SINCE): "15", (FAILED, NOW): "2"}
        key = (query, datetime.fromtimestamp(at, UTC))
        found = value.get(key)
        return vector(({}, found)) if found else vector()

    backend = ScriptedPrometheus(answer)
    async with make_provider(backend) as provider:
        result = await counts(provider, app_errors(), VARIABLES, Role.CANARY, since=SINCE, now=NOW)
    assert result == Counts(requests=25, bad=2)
    times = {backend.params(i)["time"] for i in range(len(backend.requests))}
    assert times == {f"{SINCE.timestamp():.3f}", f"{NOW.timestamp():.3f}"}


@synchronously
async def test_provider_errors_propagate() -> None:
    backend = ScriptedPrometheus(httpx.Response(403))
    async with make_provider(backend) as provider:
        with pytest.raises(ProviderError) as caught:
            await counts(provider, app_errors(), VARIABLES, Role.CANARY, since=SINCE, now=NOW)
    assert caught.value.kind is ErrorKind.HTTP_STATUS


@synchronously
async def test_a_settled_start_is_read_once_and_an_early_one_every_look() -> None:
    """Two minutes after ``since`` its read is kept: later looks ask only for ``now``.
    Read sooner, it is asked again, so a scrape stamped before ``since`` that lands
    late is counted from, not missed."""
    early, late, later = SINCE + timedelta(seconds=30), SINCE + timedelta(minutes=2), NOW
    landed: list[Sample] = []
    provider = History(
        {
            (REQUESTS, SINCE): lambda: list(landed),
            (REQUESTS, early): [sample(130, code="200")],
            (REQUESTS, late): [sample(150, code="200")],
            (REQUESTS, later): [sample(170, code="200")],
        }
    )
    settled = SettledReads()

    async def look(now: datetime) -> Counts | NoData:
        return await counts(
            provider, app_errors(), VARIABLES, Role.CANARY, since=SINCE, now=now, settled=settled
        )

    assert await look(early) == Counts(requests=130, bad=0)  # nothing at since yet
    assert len(settled) == 0
    landed.append(sample(100, code="200"))  # the scrape stamped at since lands
    assert await look(late) == Counts(requests=50, bad=0)
    assert len(settled) == 2  # both selectors' reads of since, now settled
    before = len(provider.calls)
    assert await look(later) == Counts(requests=70, bad=0)
    assert provider.calls[before:] == [(FAILED, later), (REQUESTS, later)]


def test_settled_reads_are_bounded_by_reads_and_series_least_recently_used_first() -> None:
    settled = SettledReads(max_size=5)  # a read counts one, plus one per series
    settled.put("a", SINCE, {1: 1, 2: 2})
    settled.put("b", SINCE, {3: 3})
    assert settled.size == 5
    assert settled.get("a", SINCE) is not None  # a is now the most recently used
    settled.put("c", SINCE, {})  # a revision that served nothing: still a read
    assert settled.get("b", SINCE) is None
    assert settled.get("a", SINCE) == {1: 1, 2: 2}
    assert settled.get("c", SINCE) == {}
    assert settled.size == 4
    settled.put("a", SINCE, {1: 1})  # put again: counted once, at its new size
    assert settled.size == 3
    settled.put("d", SINCE, {n: n for n in range(6)})  # larger than the bound alone
    assert len(settled) == 0
    assert settled.size == 0


def test_reads_of_no_series_do_not_pile_up() -> None:
    """Every look at a revision that served nothing yet keeps a read of no series; a
    thousand analyses of ten releases each must not keep them all."""
    settled = SettledReads(max_size=100)
    for release in range(10):
        for rollout in range(1_000):
            settled.put(f"requests{{rollout='{rollout}'}}", SINCE + timedelta(hours=release), {})
    assert len(settled) == settled.size == 100


def test_a_read_no_look_asked_for_in_max_idle_is_dropped() -> None:
    clock = [0.0]
    settled = SettledReads(max_idle=60, clock=lambda: clock[0])
    settled.put("ended", SINCE, {1: 1})  # its analysis ends: nobody asks again
    settled.put("running", SINCE, {2: 2})
    for clock[0] in (30.0, 60.0, 90.0):  # the running analysis looks every 30 s
        assert settled.get("running", SINCE) == {2: 2}
    assert settled.get("ended", SINCE) is None  # unused for 90 s
    assert len(settled) == 1
    assert settled.size == 2
    clock[0] = 151.0  # and then the running one ends too
    settled.put("next", SINCE + timedelta(minutes=5), {})
    assert settled.get("running", SINCE) is None
    assert len(settled) == 1
