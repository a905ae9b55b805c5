"""Slack commands and clicks through the real ``landinggear chatops`` process, on the real
API server, with a real controller process.

The bot runs as a ServiceAccount holding exactly the shipped chat-ops rights
(``manifests/chatops/rbac.yaml``: its ClusterRole, and the Role on the identities
ConfigMap, here in the test's namespace), so these tests also show that those
rights are enough and that the person's own RBAC decides. Slack's servers cannot be
reached here: requests are signed exactly as Slack signs them (the SDK's helper)
and sent to the bot over loopback; ``response_url`` is a loopback stand-in
(:class:`tests.support.slack.SlackStandIn`) that records the replies.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.accounts import service_account_kubeconfig
from tests.support.chatops import RBAC, chatops_events, grant_oncall, paused_canary
from tests.support.scenario import ROOT, Harness
from tests.support.slack import (
    SECRET,
    TEAM,
    SlackStandIn,
    click_body,
    command_body,
    post,
    signed_headers,
)
from tests.support.waiting import eventually

IDENTITIES = "landinggear-chatops-identities"
ACCOUNT = "landinggear-chatops"


@dataclass
class Bot:
    """The running ``landinggear chatops`` process, its log, and Slack's stand-in."""

    url: str
    proc: subprocess.Popen[bytes]
    log: Path
    slack: SlackStandIn

    def command(self, text: str, *, user: str, name: str, n: int) -> tuple[int, Any, str]:
        """A signed slash command; (status, ack JSON, response_url)."""
        url = self.slack.response_url(n)
        body = command_body(text, user=user, name=name, response_url=url)
        status, answer = post(f"{self.url}/slack/commands", body, signed_headers(body))
        return status, json.loads(answer) if status == 200 else answer, url

    def click(self, value: str, *, user: str, name: str, n: int) -> tuple[int, str]:
        """A signed button click; (status, response_url)."""
        url = self.slack.response_url(n)
        body = click_body(value, user=user, name=name, response_url=url)
        status, _ = post(f"{self.url}/slack/interactions", body, signed_headers(body))
        return status, url


def _shipped_rbac(namespace: str, role_name: str) -> list[dict[str, Any]]:
    """The shipped ClusterRole (renamed for this test) bound to the test's ServiceAccount,
    and the shipped identities Role in the test's namespace."""
    docs = list(yaml.safe_load_all((ROOT / "manifests/chatops/rbac.yaml").read_text()))
    cluster_role = next(d for d in docs if d["kind"] == "ClusterRole")
    role = next(d for d in docs if d["kind"] == "Role")
    subjects = [{"kind": "ServiceAccount", "name": ACCOUNT, "namespace": namespace}]
    return [
        {**cluster_role, "metadata": {"name": role_name}},
        {"apiVersion": f"{RBAC}/v1", "kind": "ClusterRoleBinding", "metadata": {"name": role_name},
         "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": role_name},
         "subjects": subjects},
        {**role, "metadata": {"name": IDENTITIES}},
        {"apiVersion": f"{RBAC}/v1", "kind": "RoleBinding", "metadata": {"name": IDENTITIES},
         "roleRef": {"apiGroup": RBAC, "kind": "Role", "name": IDENTITIES},
         "subjects": subjects},
    ]  # fmt: skip


def _identities(harness: Harness) -> None:
    harness.apply(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": IDENTITIES},
         "data": {f"slack.{TEAM}.U0ALICE": "{user: alice, groups: [payments-oncall]}",
                  f"slack.{TEAM}.U0BOB": "{user: bob}",
                  "not-a-key": "logged and skipped"}}
    )  # fmt: skip


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/readyz", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


@pytest.fixture
def bot(harness: Harness, tmp_path: Path) -> Iterator[Bot]:
    kube, ns = harness.kube, harness.namespace
    role_name = f"landinggear-chatops-{ns}"
    kubeconfig = service_account_kubeconfig(kube, ns, ACCOUNT, tmp_path / "sa")
    for obj in _shipped_rbac(ns, role_name):
        harness.apply(obj)
    _identities(harness)
    grant_oncall(harness)
    slack = SlackStandIn().start()
    (tmp_path / "signing-secret").write_text(SECRET)
    port = _free_port()
    log = tmp_path / "chatops.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "controller", "chatops", f"--kubeconfig={kubeconfig}",
             f"--listen=127.0.0.1:{port}",
             f"--slack-signing-secret-file={tmp_path / 'signing-secret'}",
             f"--slack-api-url={slack.api_url}", f"--identities={ns}/{IDENTITIES}",
             "--identities-refresh=1", f"--instance=chatops-{ns}"],
            cwd=ROOT, env=dict(os.environ), stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    started = Bot(url=f"http://127.0.0.1:{port}", proc=proc, log=log, slack=slack)
    try:
        eventually(lambda: _ready(started.url), timeout=30, what="chatops ready")
        yield started
    finally:
        proc.terminate()
        code = proc.wait(timeout=30)
        slack.stop()
        print(f"----- chatops log (exit {code}) -----\n{log.read_text()[-6000:]}")
        kube.kubectl("delete", "clusterrolebinding,clusterrole", role_name, check=False)


def _stable_at_full_size(harness: Harness, stable: str) -> None:
    harness.wait_status("rolled back", phase="Degraded", stableRevision=stable, timeout=30)
    eventually(lambda: harness.replica_sets().get(stable) == (2, 2), timeout=30,
               what="stable back at full size")  # fmt: skip


def test_a_signed_slash_command_aborts_and_the_channel_is_told(harness: Harness, bot: Bot) -> None:
    stable = paused_canary(harness)
    ns = harness.namespace

    asked = time.monotonic()
    status, ack, url = bot.command(f"abort {ns}/web errors in checkout", user="U0ALICE",
                                   name="alice", n=1)  # fmt: skip
    acked = time.monotonic() - asked
    assert status == 200
    assert ack == {"response_type": "ephemeral", "replace_original": False,
                   "text": f"Working on it: abort {ns}/web…"}  # fmt: skip
    reply = bot.slack.wait_reply(url, timeout=30)
    assert reply["response_type"] == "in_channel"
    assert (
        reply["text"] == f"Requested abort of rollout {ns}/web (as slack:alice): errors in checkout"
    )
    _stable_at_full_size(harness, stable)
    restored = time.monotonic() - asked
    aborted = [h for h in harness.status()["history"] if h["action"] == "Aborted"]
    assert aborted[-1]["by"] == "slack:alice"
    assert any(e.type == "Normal" and "slack:alice (as alice) requested abort" in e.note
               for e in chatops_events(harness))  # fmt: skip
    print(f"\nslash command: acked in {acked * 1000:.0f} ms; stable at full size after "
          f"{restored:.2f}s")  # fmt: skip


def test_unmapped_and_unauthorised_clicks_are_refused_and_change_nothing(
    harness: Harness, bot: Bot
) -> None:
    paused_canary(harness)
    ns = harness.namespace
    before = harness.rollout()

    status, unmapped = bot.click(f"abort {ns}/web", user="U0MALLORY", name="mallory", n=1)
    assert status == 200
    reply = bot.slack.wait_reply(unmapped, timeout=30)
    assert reply["response_type"] == "ephemeral"
    assert "slack:mallory is not mapped to a Kubernetes user" in reply["text"]

    status, unauthorised = bot.click(f"abort {ns}/web", user="U0BOB", name="bob", n=2)
    assert status == 200
    reply = bot.slack.wait_reply(unauthorised, timeout=30)
    assert reply["response_type"] == "ephemeral"
    assert "(Kubernetes user bob) may not patch rollout" in reply["text"]

    after = harness.rollout()
    assert after["metadata"].get("annotations") == before["metadata"].get("annotations")
    assert after["spec"] == before["spec"]
    warnings = [e for e in chatops_events(harness) if e.type == "Warning"]
    assert {e.reason for e in warnings} == {"AbortRefused"}
    assert {next(w for w in ("slack:mallory", "slack:bob") if w in e.note) for e in warnings} == {
        "slack:mallory", "slack:bob"}  # fmt: skip


def test_a_click_restores_the_stable_revision_at_full_size(harness: Harness, bot: Bot) -> None:
    stable = paused_canary(harness)
    clicked = time.monotonic()
    status, url = bot.click(f"abort {harness.namespace}/web", user="U0ALICE", name="alice", n=1)
    acked = time.monotonic() - clicked
    assert status == 200
    assert bot.slack.wait_reply(url, timeout=30)["response_type"] == "in_channel"
    _stable_at_full_size(harness, stable)
    restored = time.monotonic() - clicked
    print(f"\nclick: acked in {acked * 1000:.0f} ms; stable at full size after {restored:.2f}s")
