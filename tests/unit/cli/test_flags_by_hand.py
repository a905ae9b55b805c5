"""``landinggear flags off|restore``: the grammar, the refusals, the patch and the Event."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from controller.cli import api, main
from controller.cli.arguments import parse
from controller.cli.changes import (
    confirmation,
    event_for,
    pending_request,
    refusal,
    request_patch,
)
from controller.cli.errors import CliError
from controller.cli.flags import flags_table, merged_flags
from controller.core.world import Verb, parse_requests
from controller.kube.objects import KubeObject
from tests.unit.cli.samples import NOW, canary
from tests.unit.cli.test_arguments import _kubeconfig
from tests.unit.cli.test_flags import with_flags

# ------------------------------------------------------------------ grammar


@pytest.mark.parametrize(
    ("argv", "parsed"),
    [
        (["flags", "web"], ("list", "web", ())),
        (["flags", "list", "web"], ("list", "web", ())),
        (["flags", "off"], ("list", "off", ())),  # one word is always the Rollout
        (["flags", "list", "off"], ("list", "off", ())),
        (["flags", "off", "web"], ("off", "web", ())),
        (["flags", "off", "off", "a"], ("off", "off", ("a",))),
        (["flags", "restore", "web", "a", "b", "a"], ("restore", "web", ("a", "b"))),
        (["flags", "off", "web", "--reason", "p99", "a", "-n", "shop", "b"],
         ("off", "web", ("a", "b"))),
    ],
)  # fmt: skip
def test_flags_takes_an_action_a_rollout_and_flags(
    argv: list[str], parsed: tuple[str, str, tuple[str, ...]]
) -> None:
    args = parse(argv)
    assert (args.command, args.flags_action, args.name, args.flag_names) == ("flags", *parsed)


def test_options_may_come_anywhere_among_the_words() -> None:
    args = parse(["-n", "x", "flags", "off", "--reason", "p99 latency", "web", "-n", "shop", "a"])
    assert (args.reason, args.namespace, args.flag_names) == ("p99 latency", "shop", ("a",))


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["flags", "web", "a"], "unknown flags action 'web' (choose from list, off, restore;"),
        (["flags", "list", "web", "a"], "flags list takes only the Rollout's NAME"),
        (["flags", "web", "--reason", "x"], "--reason goes with flags off or flags restore"),
        (["flags", "off", "--reason", "x"], "flags off needs the Rollout's NAME"),
        (["flags", "off", "web", "--full"], "unrecognized arguments: --full"),
        (["flags"], "the following arguments are required: ARG"),
    ],
)
def test_flags_usage_errors_exit_2_with_the_flags_usage(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        parse(argv)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: landinggear flags [list] NAME\n")
    assert f"landinggear flags: error: {message}" in err


def test_flags_help_shows_the_three_forms(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse(["flags", "--help"])
    out = capsys.readouterr().out
    assert out.startswith(
        "usage: landinggear flags [list] NAME\n"
        "       landinggear flags off NAME [FLAG ...] [--reason TEXT]\n"
        "       landinggear flags restore NAME [FLAG ...] [--reason TEXT]\n"
    )
    assert "the kill switch without a rollback" in out
    assert "--reason TEXT" in out


def test_the_top_level_help_lists_flags_off_and_restore(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        parse(["--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "flags list the Rollout's feature flags; switch them off or restore them by hand" in out


# ------------------------------------------------------------------ refusals


def by_hand(rollout: dict[str, Any], name: str) -> dict[str, Any]:
    rollout["status"]["featureFlags"] = [
        {"name": name, "wanted": "Off", "state": "Off", "reason": "Manual: p99", "by": "bob"}
    ]
    return rollout


def test_a_rollout_without_flags_refuses_off_and_restore() -> None:
    assert refusal("flags-off", canary()) == (
        "rollout shop/web declares no feature flags: nothing to switch off"
    )
    assert refusal("flags-restore", canary(), flags=["a"]) == (
        "rollout shop/web declares no feature flags: nothing to restore"
    )


@pytest.mark.parametrize("verb", ["flags-off", "flags-restore"])
def test_undeclared_flags_are_refused_with_the_declared_ones_listed(verb: str) -> None:
    rollout = with_flags(pending=False)
    assert refusal(verb, rollout, flags=["new-checkout", "nope", "gone"]) == (
        "rollout shop/web declares no flag named nope, gone (declared: new-checkout, fast-search)"
    )


def test_restore_is_refused_when_nothing_named_is_off() -> None:
    rollout = with_flags(pending=False)  # new-checkout Off (abort), fast-search untouched
    assert refusal("flags-restore", rollout) is None
    assert refusal("flags-restore", rollout, flags=["fast-search"]) == (
        "fast-search of rollout shop/web is not switched off: nothing to restore"
    )
    rollout["status"]["featureFlags"] = [{"name": "new-checkout", "wanted": "Restored"}]
    assert refusal("flags-restore", rollout) == (
        "no feature flag of rollout shop/web is switched off: nothing to restore"
    )


def test_restore_counts_a_flags_off_the_controller_has_not_acted_on_yet() -> None:
    rollout = with_flags(pending=False)
    rollout["status"]["featureFlags"] = []
    rollout["metadata"]["annotations"] = off_request("r1", "alice", ["fast-search"])
    assert refusal("flags-restore", rollout, flags=["fast-search"]) is None
    rollout["status"]["handledRequests"] = {"flags-off": "r1"}  # acted on: not off after all
    assert refusal("flags-restore", rollout, flags=["fast-search"]) is not None


def test_off_is_refused_only_when_every_flag_named_is_off_by_hand_already() -> None:
    rollout = by_hand(with_flags(pending=False), "fast-search")
    assert refusal("flags-off", rollout, flags=["fast-search"]) == (
        "fast-search of rollout shop/web already switched off by hand"
    )
    assert refusal("flags-off", rollout) is None  # new-checkout is not
    assert refusal("flags-off", with_flags(pending=False), flags=["new-checkout"]) is None


# ------------------------------------------------------------------ what is sent


def off_request(request_id: str, by: str, flags: list[str]) -> dict[str, str]:
    patch = request_patch("flags-off", request_id=request_id, by=by, at=NOW, flags=flags)
    annotations: dict[str, str] = patch["metadata"]["annotations"]
    return annotations


def test_the_request_names_its_flags_and_reason_and_reads_back_as_sent() -> None:
    patch = request_patch(
        "flags-off", request_id="r1", by="alice", at=NOW, reason="p99", flags=["a", "b"]
    )
    annotations = patch["metadata"]["annotations"]
    assert list(annotations) == ["request.landinggear.dev/flags-off"]
    assert json.loads(annotations["request.landinggear.dev/flags-off"])["flags"] == ["a", "b"]
    (request,), errors = parse_requests(annotations)
    assert errors == []
    assert (request.verb, request.flags, request.reason) == (Verb.FLAGS_OFF, ("a", "b"), "p99")

    every = request_patch("flags-restore", request_id="r2", by="alice", at=NOW)
    body = json.loads(every["metadata"]["annotations"]["request.landinggear.dev/flags-restore"])
    assert "flags" not in body  # none named: every flag


def test_unreadable_flags_in_a_request_are_reported_not_acted_on() -> None:
    key = "request.landinggear.dev/flags-off"
    raw = json.dumps({"id": "r", "at": NOW.isoformat(), "flags": "new-checkout"})
    requests, errors = parse_requests({key: raw})
    assert requests == []
    assert errors == [f"ignored unreadable request annotation {key}: flags is not a list of "
                      "flag names"]  # fmt: skip


def test_an_unhandled_request_of_the_same_verb_is_merged_not_dropped() -> None:
    rollout = with_flags(pending=False)
    rollout["metadata"]["annotations"] = off_request("r1", "alice", ["new-checkout"])
    pending = pending_request("flags-off", rollout)
    assert pending is not None
    assert pending.by == "alice"
    assert merged_flags(["fast-search"], pending) == ("new-checkout", "fast-search")
    assert merged_flags([], pending) == ()  # all of them
    assert pending_request("flags-restore", rollout) is None
    rollout["status"]["handledRequests"] = {"flags-off": "r1"}
    assert pending_request("flags-off", rollout) is None
    assert merged_flags(["fast-search"], None) == ("fast-search",)


def test_the_event_names_the_user_the_flags_and_the_reason() -> None:
    event = event_for(
        canary(),
        verb="flags-off",
        user="alice",
        at=NOW,
        suffix="s",
        instance="i",
        reason="p99",
        flags=["new-checkout"],
    )
    assert (event["reason"], event["action"]) == ("FlagsOffRequested", "flags-off")
    assert event["note"] == "alice requested flags off (new-checkout): p99"
    every = event_for(canary(), verb="flags-restore", user="bob", at=NOW, suffix="s", instance="i")
    assert (every["reason"], every["note"]) == (
        "FlagsRestoreRequested",
        "bob requested flags restore (every flag)",
    )


def test_the_confirmation_says_what_was_asked_and_where_to_look() -> None:
    assert confirmation("flags-off", canary(), user="alice", flags=["a", "b"]) == (
        "Requested flags off (a, b) of rollout shop/web (as alice); "
        "`landinggear flags web` shows when each is confirmed"
    )


def test_the_table_marks_a_flag_switched_off_by_hand() -> None:
    row = flags_table(by_hand(with_flags(pending=False), "new-checkout"), NOW).splitlines()[1]
    assert "Off (by hand)" in row


# ------------------------------------------------------------------ end to end, API faked


class FakeApi:
    def __init__(self, rollout: KubeObject) -> None:
        self.rollout = rollout
        self.patches: list[KubeObject] = []
        self.events: list[KubeObject] = []

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(api, "get_rollout", lambda session, name: self.rollout)
        monkeypatch.setattr(api, "whoami", lambda session: "alice")
        monkeypatch.setattr(api, "merge_patch_rollout", self.patch)
        monkeypatch.setattr(api, "create_event", lambda session, event: self.events.append(event))

    def patch(self, session: object, name: str, patch: KubeObject) -> KubeObject:
        self.patches.append(patch)
        return self.rollout


@pytest.fixture
def kubeconfig(tmp_path: Path) -> str:
    return str(_kubeconfig(tmp_path / "config"))


def test_flags_off_writes_the_request_and_an_event(
    kubeconfig: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = FakeApi(with_flags(pending=False))
    fake.install(monkeypatch)

    code = main(["--kubeconfig", kubeconfig, "flags", "off", "web", "fast-search", "--reason", "x"])

    assert code == 0
    (patch,) = fake.patches
    (request,), _ = parse_requests(patch["metadata"]["annotations"])
    assert (request.verb, request.flags, request.by, request.reason) == (
        Verb.FLAGS_OFF, ("fast-search",), "alice", "x",
    )  # fmt: skip
    assert fake.events[0]["note"] == "alice requested flags off (fast-search): x"
    assert capsys.readouterr().out.startswith("Requested flags off (fast-search) of rollout")


def test_a_refused_flags_verb_exits_1_and_writes_nothing(
    kubeconfig: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = FakeApi(with_flags(pending=False))
    fake.install(monkeypatch)

    assert main(["--kubeconfig", kubeconfig, "flags", "restore", "web", "fast-search"]) == 1
    assert capsys.readouterr().err == (
        "error: fast-search of rollout shop/web is not switched off: nothing to restore\n"
    )
    assert fake.patches == []
    assert fake.events == []


def test_flags_off_without_a_name_hints_at_the_missing_name_when_no_rollout_is_called_off(
    kubeconfig: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def missing(session: object, name: str) -> KubeObject:
        raise CliError(f"rollout default/{name} not found")

    monkeypatch.setattr(api, "get_rollout", missing)

    assert main(["--kubeconfig", kubeconfig, "flags", "off"]) == 1
    assert capsys.readouterr().err == (
        "error: rollout default/off not found "
        "(to switch a Rollout's flags off: flags off NAME [FLAG ...])\n"
    )
