"""The shutdown deadline's arithmetic, with a clock moved by hand."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from controller.deadline import Deadline

seconds = st.floats(min_value=0, max_value=1e4, allow_nan=False)


@given(budget=seconds, elapsed=seconds, cap=st.none() | seconds, keep=seconds)
def test_left_is_what_remains_less_what_is_kept_capped_and_never_negative(
    budget: float, elapsed: float, cap: float | None, keep: float
) -> None:
    now = [100.0]
    deadline = Deadline.after(budget, clock=lambda: now[0])
    now[0] += elapsed
    left = deadline.left(cap, keep=keep)
    assert left >= 0
    assert left <= max(0.0, budget - elapsed - keep) + 1e-9
    if cap is not None:
        assert left <= cap
        assert left == min(cap, max(0.0, (100.0 + budget) - keep - now[0]))
    assert deadline.passed() == (now[0] >= deadline.at)
