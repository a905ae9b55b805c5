"""The load generator's counts, read as answered requests per revision (what the demo and
the analysis tests compare with what the judge counted)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from e2e.dataplane.netload.service import revision_counts

codes = st.dictionaries(st.sampled_from(["200", "204", "404", "500", "503"]), st.integers(0, 50))


def test_codes_of_500_and_above_are_errors_and_the_rest_ok() -> None:
    found = revision_counts(
        {"by_revision": {"abc": {"200": 90, "404": 2, "500": 7, "503": 1}, "def": {"200": 5}}}
    )
    assert found["abc"].sent == 100
    assert (found["abc"].ok, found["abc"].errors, found["abc"].failed) == (92, 8, 0)
    assert (found["def"].sent, found["def"].errors) == (5, 0)


def test_no_answers_yet_is_no_revision() -> None:
    assert revision_counts({}) == {}
    assert revision_counts({"by_revision": {}, "refused": 3}) == {}


@given(st.dictionaries(st.text(min_size=1, max_size=8), codes))
def test_every_answer_is_counted_once(by_revision: dict[str, dict[str, int]]) -> None:
    found = revision_counts({"by_revision": by_revision})
    assert set(found) == set(by_revision)
    for revision, per_code in by_revision.items():
        counts = found[revision]
        assert counts.sent == counts.ok + counts.errors == sum(per_code.values())
