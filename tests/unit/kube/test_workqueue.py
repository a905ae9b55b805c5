"""WorkQueue: dedupe, one worker per key, requeue while processing, backoff, delays, shutdown."""

from __future__ import annotations

import threading
import time
from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from controller.kube.workqueue import WorkQueue
from tests.unit.kube.fakes import FakeClock


def drain(queue: WorkQueue[str]) -> list[str]:
    """Process everything ready now, in order."""
    seen = []
    while (key := queue.get(timeout=0)) is not None:
        seen.append(key)
        queue.done(key)
    return seen


def test_a_key_queued_twice_is_processed_once() -> None:
    queue: WorkQueue[str] = WorkQueue()
    queue.add("a")
    queue.add("b")
    queue.add("a")
    assert len(queue) == 2
    assert drain(queue) == ["a", "b"]


def test_a_key_being_processed_is_not_handed_to_another_worker() -> None:
    queue: WorkQueue[str] = WorkQueue()
    queue.add("a")
    assert queue.get(timeout=0) == "a"
    queue.add("a")
    assert queue.get(timeout=0) is None
    assert queue.in_flight == 1


def test_a_key_added_while_processing_is_processed_again_after_done() -> None:
    queue: WorkQueue[str] = WorkQueue()
    queue.add("a")
    key = queue.get(timeout=0)
    queue.add("a")
    queue.add("a")
    queue.done(key)  # type: ignore[arg-type]
    assert drain(queue) == ["a"]


def test_get_times_out_with_none_when_nothing_is_queued() -> None:
    queue: WorkQueue[str] = WorkQueue()
    assert queue.get(timeout=0.01) is None


def test_get_wakes_up_when_a_key_is_added_from_another_thread() -> None:
    queue: WorkQueue[str] = WorkQueue()
    threading.Timer(0.005, queue.add, args=("a",)).start()
    assert queue.get(timeout=5) == "a"


def test_add_after_hands_the_key_out_only_when_its_time_comes() -> None:
    clock = FakeClock()
    queue: WorkQueue[str] = WorkQueue(clock=clock)
    queue.add_after("a", 10)
    assert queue.get(timeout=0) is None
    assert queue.waiting == 1
    clock.advance(9.9)
    assert queue.get(timeout=0) is None
    clock.advance(0.1)
    assert queue.get(timeout=0) == "a"


def test_add_after_with_an_earlier_time_moves_a_waiting_key_earlier() -> None:
    clock = FakeClock()
    queue: WorkQueue[str] = WorkQueue(clock=clock)
    queue.add_after("a", 60)
    queue.add_after("a", 5)
    queue.add_after("a", 30)  # later than what is already asked: ignored
    clock.advance(5)
    assert drain(queue) == ["a"]
    clock.advance(60)
    assert drain(queue) == []


def test_delayed_keys_come_out_in_time_order() -> None:
    clock = FakeClock()
    queue: WorkQueue[str] = WorkQueue(clock=clock)
    queue.add_after("late", 3)
    queue.add_after("early", 1)
    queue.add_after("middle", 2)
    clock.advance(3)
    assert drain(queue) == ["early", "middle", "late"]


def test_a_delayed_key_that_is_already_queued_is_processed_once() -> None:
    clock = FakeClock()
    queue: WorkQueue[str] = WorkQueue(clock=clock)
    queue.add("a")
    queue.add_after("a", 1)
    clock.advance(1)
    assert drain(queue) == ["a"]


def test_blocked_get_returns_a_delayed_key_when_it_becomes_due() -> None:
    queue: WorkQueue[str] = WorkQueue()
    queue.add_after("a", 0.005)
    assert queue.get(timeout=5) == "a"


def fail_once(queue: WorkQueue[str], clock: FakeClock, key: str, expected_delay: float) -> None:
    """Requeue ``key`` rate-limited and check it comes back after exactly ``expected_delay``."""
    queue.add_rate_limited(key)
    clock.advance(expected_delay * 0.999)
    assert queue.get(timeout=0) is None
    clock.advance(expected_delay * 0.002)
    assert queue.get(timeout=0) == key
    queue.done(key)


def test_rate_limited_backoff_doubles_from_5ms_and_caps_at_1000s() -> None:
    clock = FakeClock()
    queue: WorkQueue[str] = WorkQueue(clock=clock)
    for failures in range(25):
        fail_once(queue, clock, "a", min(0.005 * 2**failures, 1000.0))
    assert queue.num_requeues("a") == 25


def test_backoff_is_per_key_and_reset_by_forget() -> None:
    clock = FakeClock()
    queue: WorkQueue[str] = WorkQueue(clock=clock)
    for failures in range(8):
        fail_once(queue, clock, "slow", 0.005 * 2**failures)
    fail_once(queue, clock, "fresh", 0.005)
    fail_once(queue, clock, "slow", 0.005 * 2**8)
    queue.forget("slow")
    assert queue.num_requeues("slow") == 0
    fail_once(queue, clock, "slow", 0.005)


def test_the_earliest_of_several_rate_limited_adds_wins() -> None:
    clock = FakeClock()
    queue: WorkQueue[str] = WorkQueue(clock=clock)
    for _ in range(5):
        queue.add_rate_limited("a")  # 5 ms, then 10, 20, 40, 80 ms: the first stands
    clock.advance(0.005)
    assert drain(queue) == ["a"]
    assert queue.num_requeues("a") == 5


def test_shut_down_wakes_blocked_workers_and_rejects_new_keys() -> None:
    queue: WorkQueue[str] = WorkQueue()
    results: list[str | None] = []
    worker = threading.Thread(target=lambda: results.append(queue.get()))
    worker.start()
    queue.shut_down()
    worker.join(5)
    assert results == [None]
    queue.add("a")
    assert queue.get(timeout=0) is None
    assert queue.shutting_down


def test_shut_down_with_drain_waits_for_keys_in_flight() -> None:
    queue: WorkQueue[str] = WorkQueue()
    queue.add("a")
    key = queue.get(timeout=0)
    assert queue.shut_down_with_drain(timeout=0.01) is False
    threading.Timer(0.005, queue.done, args=(key,)).start()
    assert queue.shut_down_with_drain(timeout=5) is True
    assert queue.in_flight == 0


def test_keys_are_never_processed_concurrently_by_many_workers() -> None:
    queue: WorkQueue[int] = WorkQueue()
    active: Counter[int] = Counter()
    processed: Counter[int] = Counter()
    violations: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        while (key := queue.get()) is not None:
            with lock:
                active[key] += 1
                if active[key] > 1:
                    violations.append(key)
            time.sleep(0.0001)
            with lock:
                active[key] -= 1
                processed[key] += 1
            queue.done(key)

    workers = [threading.Thread(target=worker) for _ in range(8)]
    for thread in workers:
        thread.start()
    for i in range(2000):
        queue.add(i % 10)
    deadline = time.monotonic() + 10
    while (queue.depth or queue.in_flight) and time.monotonic() < deadline:
        time.sleep(0.001)
    queue.shut_down_with_drain(timeout=5)
    for thread in workers:
        thread.join(5)
    assert violations == []
    assert set(processed) == set(range(10))


OPS = st.lists(
    st.one_of(
        st.tuples(st.just("add"), st.integers(0, 4)),
        st.tuples(st.just("add_after"), st.integers(0, 4), st.floats(0, 5)),
        st.tuples(st.just("rate_limited"), st.integers(0, 4)),
        st.tuples(st.just("get")),
        st.tuples(st.just("done"), st.integers(0, 10)),
        st.tuples(st.just("advance"), st.floats(0, 3)),
    ),
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(OPS)
def test_random_interleavings_never_share_a_key_and_never_lose_one(ops: list[tuple]) -> None:  # type: ignore[type-arg]
    clock = FakeClock()
    queue: WorkQueue[int] = WorkQueue(clock=clock)
    processing: list[int] = []
    owed: set[int] = set()  # added since its last hand-out began: must be handed out again
    for op in ops:
        match op:
            case ("add", key):
                queue.add(key)
                owed.add(key)
            case ("add_after", key, delay):
                queue.add_after(key, delay)
                owed.add(key)
            case ("rate_limited", key):
                queue.add_rate_limited(key)
                owed.add(key)
            case ("get",):
                key = queue.get(timeout=0)
                if key is not None:
                    assert key not in processing, "a key was handed to two workers"
                    processing.append(key)
                    owed.discard(key)
            case ("done", index):
                if processing:
                    queue.done(processing.pop(index % len(processing)))
            case ("advance", seconds):
                clock.advance(seconds)
    for key in processing:
        queue.done(key)
    clock.advance(10_000)
    handed_out = drain_ints(queue)
    assert len(handed_out) == len(set(handed_out)), "a key was handed out twice in one drain"
    assert owed <= set(handed_out), "a key that was added was never handed out"


def drain_ints(queue: WorkQueue[int]) -> list[int]:
    seen = []
    while (key := queue.get(timeout=0)) is not None:
        seen.append(key)
        queue.done(key)
    return seen


def _workers(queue: WorkQueue[str], count: int, hold: threading.Event) -> tuple[list, list]:  # type: ignore[type-arg]
    """``count`` blocked workers: each records (key, when); keys named ``hold*`` are
    held until ``hold`` is set, the others done at once."""
    seen: list[tuple[str, float]] = []

    def work() -> None:
        while (key := queue.get()) is not None:
            seen.append((key, time.monotonic()))
            if key.startswith("hold"):
                hold.wait(10)
            queue.done(key)

    threads = [threading.Thread(target=work) for _ in range(count)]
    for thread in threads:
        thread.start()
    return seen, threads


def _when(seen: list[tuple[str, float]], key: str, timeout: float = 5.0) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for name, at in list(seen):
            if name == key:
                return at
        time.sleep(0.005)
    raise AssertionError(f"{key} was never handed out: {seen}")


def test_a_delayed_key_comes_out_on_time_while_the_other_workers_hold_keys() -> None:
    # done() and add_after() wake only the workers they need (not all 16 on every
    # done); a delayed key must still come out on time with most workers busy.
    queue: WorkQueue[str] = WorkQueue()
    hold = threading.Event()
    seen, threads = _workers(queue, 4, hold)
    time.sleep(0.05)  # all four blocked in get()
    start = time.monotonic()
    queue.add_after("late", 0.4)
    queue.add_after("later", 0.6)
    queue.add_after("soon", 0.2)
    for name in ("hold-1", "hold-2", "hold-3"):
        queue.add(name)
    try:
        for key, after in (("soon", 0.2), ("late", 0.4), ("later", 0.6)):
            late = _when(seen, key) - start - after
            assert -0.01 <= late < 0.5, (key, late)
    finally:
        hold.set()
        queue.shut_down_with_drain(timeout=5)
        for thread in threads:
            thread.join(5)


def test_a_key_added_while_processing_goes_to_an_idle_worker_at_done() -> None:
    queue: WorkQueue[str] = WorkQueue()
    hold = threading.Event()
    seen, threads = _workers(queue, 3, hold)
    try:
        queue.add("hold-a")
        _when(seen, "hold-a")
        queue.add("hold-a")  # dirty: handed out again once done
        time.sleep(0.05)
        assert [k for k, _ in seen] == ["hold-a"]
        hold.set()  # done: an idle worker (or the same one) takes it again
        deadline = time.monotonic() + 5
        while len(seen) < 2 and time.monotonic() < deadline:
            time.sleep(0.005)
        assert [k for k, _ in seen] == ["hold-a", "hold-a"]
    finally:
        hold.set()
        queue.shut_down_with_drain(timeout=5)
        for thread in threads:
            thread.join(5)
