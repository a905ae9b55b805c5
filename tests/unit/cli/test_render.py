"""``get``, ``list`` and ``history`` render Rollouts as text without a cluster."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from controller.cli.changes import request_patch
from controller.cli.render import history_table, rollout_table, summary
from controller.cli.text import age, table
from tests.unit.cli.samples import NOW, canary, healthy, unseen


def test_summary_shows_phase_step_weight_revisions_and_marks_the_current_step() -> None:
    text = summary(canary(), NOW)

    assert "Phase:           Paused" in text
    assert "Message:         Waiting for promote at step 2" in text
    assert "Step:            2/4" in text
    assert "Canary weight:   20%" in text
    assert "Stable:          b5c7d9f2xz (3 ready)" in text
    assert "Canary:          q8r4t6v2wz (1 ready)" in text
    assert "Previous stable: m2n4p6r8tv" in text
    steps = text.split("Steps:\n")[1].split("\nConditions:")[0].splitlines()
    assert steps == [
        "  1. set weight 20%",
        "> 2. pause until promoted",
        "  3. set weight 50%",
        "  4. pause 5m",
    ]


def test_summary_lists_conditions_and_only_the_newest_history_entries() -> None:
    text = summary(canary(), NOW)

    assert "Paused   True     PausedAtStep   5m" in text
    assert "History (last 5 of 7):" in text
    assert "rev0" not in text.split("History")[1]  # the entries of rev0 and rev1 left out
    assert text.split("History")[1].splitlines()[2].split()[1:4] == ["Promoted", "rev2", "rev1"]
    assert text.splitlines()[-1].split() == [
        *("10m", "ReleaseStarted", "q8r4t6v2wz", "-", "controller")
    ]


def test_summary_of_a_healthy_rollout_has_no_canary_and_no_marked_step() -> None:
    text = summary(healthy(), NOW)

    assert "Step:            -" in text
    assert "Canary:          -" in text
    assert ">" not in text.split("Steps:\n")[1].split("\nConditions:")[0]


def test_summary_says_when_the_user_paused_the_rollout() -> None:
    rollout = canary()
    rollout["spec"]["paused"] = True

    assert "Paused:          yes (landinggear resume continues)" in summary(rollout, NOW)


def test_summary_of_a_rollout_the_controller_has_not_seen_still_renders() -> None:
    text = summary(unseen(), NOW)

    assert "Phase:         Unknown (not yet seen by the controller)" in text
    assert "Conditions:\n  <none>" in text
    assert text.endswith("History:\n  <none>")


def test_list_table_has_kubectl_columns_sorted_by_name() -> None:
    other = healthy()
    other["metadata"]["name"] = "api"

    text = rollout_table([canary(), other], NOW, all_namespaces=False)

    assert text.splitlines() == [
        "NAME   PHASE     WEIGHT   STEP   STABLE       CANARY       AGE",
        "api    Healthy   0%       -      b5c7d9f2xz   -            3h",
        "web    Paused    20%      2/4    b5c7d9f2xz   q8r4t6v2wz   3h",
    ]


def test_list_table_across_namespaces_leads_with_the_namespace_and_wide_adds_columns() -> None:
    text = rollout_table([canary()], NOW, all_namespaces=True, wide=True)

    header, row = text.splitlines()
    assert header.split() == [
        "NAMESPACE",
        *("NAME", "PHASE", "WEIGHT", "STEP", "STABLE", "CANARY", "AGE"),
        *("PAUSED", "READY", "PREVIOUS", "ROUTER", "MESSAGE"),
    ]
    assert row.split()[:2] == ["shop", "web"]
    assert row.split()[8:12] == ["no", "4/4", "m2n4p6r8tv", "replica-ratio"]
    assert row.endswith("Waiting for promote at step 2")


def test_wide_names_the_traffic_router() -> None:
    routed = canary()
    routed["spec"]["strategy"]["canary"]["trafficRouting"] = {"gatewayAPI": {"httpRoute": "web"}}

    header, row = rollout_table([routed], NOW, all_namespaces=False, wide=True).splitlines()

    assert row.split()[header.split().index("ROUTER")] == "gatewayAPI"


def test_history_table_lists_every_entry_oldest_first_with_utc_times() -> None:
    lines = history_table(canary()).splitlines()

    assert lines[0].split() == ["TIME", "ACTION", "REVISION", "PREVIOUS", "BY", "REASON"]
    assert len(lines) == 1 + 7
    assert lines[1].split() == [
        "2024-05-01T00:00:00Z",
        *("Promoted", "rev0", "rev-1", "controller"),
        *("All", "steps", "completed"),
    ]
    assert lines[-1].split() == [
        "2024-05-01T11:50:00Z",
        *("ReleaseStarted", "q8r4t6v2wz", "-", "controller"),
    ]


def _entry(action: str, revision: str, previous: str) -> dict[str, str]:
    return {
        "time": "2024-05-01T10:00:00Z",
        "action": action,
        "revision": revision,
        "previousRevision": previous,
        "by": "alice",
    }


def test_history_previous_is_the_revision_a_rollback_or_an_abort_rolled_back_from() -> None:
    rollout = canary()
    rollout["status"]["history"] = [
        _entry("Promoted", "v2", "v1"),  # v2 replaced v1
        _entry("Promoted", "v3", "v2"),
        _entry("RolledBack", "v3", "v3"),  # recorded: the revision left, the stable then
        _entry("ReleaseStarted", "v4", "v2"),
        _entry("Aborted", "v4", "v2"),  # recorded: the canary aborted, the stable kept
    ]

    rows = [line.split()[1:4] for line in history_table(rollout).splitlines()[1:]]

    assert rows == [
        ["Promoted", "v2", "v1"],
        ["Promoted", "v3", "v2"],
        ["RolledBack", "v2", "v3"],  # back to v2, from v3
        ["ReleaseStarted", "v4", "v2"],
        ["Aborted", "v2", "v4"],  # traffic back on v2, from the canary v4
    ]


def test_a_rollback_whose_target_left_the_history_shows_a_dash() -> None:
    rollout = canary()
    rollout["status"]["history"] = [_entry("RolledBack", "v3", "v3")]

    assert history_table(rollout).splitlines()[1].split()[1:4] == ["RolledBack", "-", "v3"]


@pytest.mark.parametrize(
    ("elapsed", "shown"),
    [
        (timedelta(seconds=0), "0s"),
        (timedelta(seconds=119), "119s"),
        (timedelta(minutes=5), "5m"),
        (timedelta(minutes=5, seconds=30), "5m30s"),
        (timedelta(minutes=45), "45m"),
        (timedelta(hours=3, minutes=20), "3h20m"),
        (timedelta(hours=30), "30h"),
        (timedelta(days=3, hours=4), "3d4h"),
        (timedelta(days=100), "100d"),
        (timedelta(days=800), "2y70d"),
        (timedelta(days=365 * 9), "9y"),
    ],
)
def test_ages_are_rounded_like_kubectl(elapsed: timedelta, shown: str) -> None:
    assert age(NOW - elapsed, NOW) == shown


def test_missing_or_unreadable_times_have_an_unknown_age() -> None:
    assert age(None, NOW) == "<unknown>"
    assert age("yesterday", NOW) == "<unknown>"


def test_table_pads_columns_and_trims_trailing_space() -> None:
    assert table(("A", "LONGER"), [("xx", ""), ("y", "z")], indent="  ") == (
        "  A    LONGER\n  xx\n  y    z"
    )


def test_get_shows_the_analysis_per_metric() -> None:
    from datetime import UTC, datetime

    from controller.cli.render import analysis_rows

    now = datetime(2026, 1, 1, 0, 1, tzinfo=UTC)
    text = analysis_rows(
        {
            "lastMeasuredAt": "2026-01-01T00:00:50Z",
            "metrics": [
                {
                    "name": "errors",
                    "verdict": "Undecided",
                    "canaryBad": 3,
                    "canaryRequests": 300,
                    "stableBad": 10,
                    "stableRequests": 1200,
                    "evidence": 2.5,
                    "moreCanaryRequestsNeeded": 900,
                }
            ],
        },
        now,
    )
    assert "errors" in text
    assert "3/300 (1.0%)" in text
    assert "10/1200 (0.8%)" in text
    assert "900" in text
    assert "last look: 10s ago" in text


def test_get_shows_threshold_rules_and_the_guard() -> None:
    from datetime import UTC, datetime

    from controller.cli.render import analysis_rows, analysis_title, describe_step

    now = datetime(2026, 1, 1, 0, 1, tzinfo=UTC)
    guard = {
        "stage": "Guard",
        "baselineRevision": "abc123",
        "endsAt": "2026-01-01T00:05:00Z",
        "metrics": [
            {"name": "errors", "verdict": "Fail", "canaryBad": 30, "canaryRequests": 600,
             "stableBad": 6, "stableRequests": 600, "evidence": 900,
             "reason": ""},
            {"name": "p99", "verdict": "Undecided", "measurements": 3, "successful": 2,
             "failed": 1, "value": 0.412},
        ],
    }  # fmt: skip
    assert "abc123" in analysis_title(guard)
    assert "until 2026-01-01T00:05:00Z" in analysis_title(guard)
    text = analysis_rows(guard, now)
    assert "NEW STABLE BAD" in text
    assert "30/600 (5.0%)" in text
    assert "value 0.412" in text
    assert "2 ok, 1 failed" in text
    assert analysis_title({"stage": "Canary"}) == "Analysis (canary vs stable):"
    step = describe_step({"analysis": {"metrics": ["errors"], "maxDuration": "5m"}})
    assert step == "analysis: wait for errors to pass (at most 5m)"


def test_router_steps_and_header_routes_are_told_in_words() -> None:
    from controller.cli.render import describe_step

    beta = {"name": "beta", "match": [{"headerName": "x-beta", "headerValue": {"exact": "1"}}]}
    assert describe_step({"setHeaderRoute": beta}) == "header route beta: x-beta = 1 to the canary"
    assert describe_step({"setHeaderRoute": {"name": "beta"}}) == "remove header route beta"
    assert describe_step({"setCanaryScale": {"replicas": 2}}) == "canary scale 2 pods"
    assert describe_step({"setCanaryScale": {"weight": 10}}) == "canary scale 10% of replicas"
    follows = describe_step({"setCanaryScale": {"matchTrafficWeight": True}})
    assert follows == "canary scale follows the weight"
    rollout = {
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {
            "workloadRef": {"name": "web"},
            "strategy": {
                "canary": {
                    "stableService": "web-stable",
                    "canaryService": "web-canary",
                    "trafficRouting": {"gatewayAPI": {"httpRoutes": [{"name": "web"}]}},
                    "steps": [{"setHeaderRoute": beta}],
                }
            },
        },
        "status": {"phase": "Paused", "canaryWeight": 5, "headerRoutes": [beta]},
    }
    text = summary(rollout, NOW)
    assert "Traffic:" in text
    assert "gatewayAPI (web-stable / web-canary)" in text
    assert "Header routes:" in text
    assert "beta: x-beta = 1" in text


def _requested(rollout: dict[str, Any], verb: str, request_id: str, **extra: Any) -> None:
    patch = request_patch(
        verb, request_id=request_id, by="alice", at=NOW - timedelta(seconds=40), **extra
    )
    rollout["metadata"].setdefault("annotations", {}).update(patch["metadata"]["annotations"])


def test_get_shows_requests_the_controller_has_not_acted_on_and_no_handled_one() -> None:
    """A rollback asked for while no controller runs is not lost from sight: ``get``
    says it waits, until the controller records it as handled."""
    rollout = healthy()
    _requested(rollout, "rollback", "r1", reason="bad deploy")
    _requested(rollout, "flags-off", "f1", flags=("new-checkout",))

    lines = [line for line in summary(rollout, NOW).splitlines() if line.startswith("Requested")]
    assert [line.split(":", 1)[1].strip() for line in lines] == [
        'rollback by alice 40s ago ("bad deploy"): waiting for the controller to act',
        "flags off new-checkout by alice 40s ago: waiting for the controller to act",
    ]

    rollout["status"]["handledRequests"] = {"rollback": "r1", "flags-off": "f1"}
    assert "Requested" not in summary(rollout, NOW)
    rollout["status"]["handledRequests"] = {"rollback": "an older one"}
    assert "Requested:" in summary(rollout, NOW)
