"""The real ``landinggear chatops`` process for cluster tests, set up as an admin would:
the shipped chat-ops rights (``manifests/chatops/rbac.yaml``: its ClusterRole, renamed
per test, and the identities Role) bound to a test ServiceAccount, an identities
ConfigMap, and Slack's loopback stand-in (Slack's servers cannot be reached here)."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.support.accounts import service_account_kubeconfig
from tests.support.chatops import RBAC, grant_oncall
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


def shipped_rbac(namespace: str, role_name: str) -> list[dict[str, Any]]:
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


def slack_identities(harness: Harness) -> None:
    harness.apply(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": IDENTITIES},
         "data": {f"slack.{TEAM}.U0ALICE": "{user: alice, groups: [payments-oncall]}",
                  f"slack.{TEAM}.U0BOB": "{user: bob}",
                  "not-a-key": "logged and skipped"}}
    )  # fmt: skip


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/readyz", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


@contextlib.contextmanager
def slack_bot(harness: Harness, tmp_path: Path, *extra: str) -> Iterator[Bot]:
    """The bot for Slack as the shipped ServiceAccount, alice and bob mapped, the on-call
    group granted; ``extra`` arguments added (e.g. a notification channel)."""
    kube, ns = harness.kube, harness.namespace
    role_name = f"landinggear-chatops-{ns}"
    kubeconfig = service_account_kubeconfig(kube, ns, ACCOUNT, tmp_path / "sa")
    for obj in shipped_rbac(ns, role_name):
        harness.apply(obj)
    slack_identities(harness)
    grant_oncall(harness)
    slack = SlackStandIn().start()
    (tmp_path / "signing-secret").write_text(SECRET)
    port = free_port()
    log = tmp_path / "chatops.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "controller", "chatops", f"--kubeconfig={kubeconfig}",
             f"--listen=127.0.0.1:{port}",
             f"--slack-signing-secret-file={tmp_path / 'signing-secret'}",
             f"--slack-api-url={slack.api_url}", f"--identities={ns}/{IDENTITIES}",
             "--identities-refresh=1", f"--instance=chatops-{ns}", *extra],
            cwd=ROOT, env=dict(os.environ), stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    started = Bot(url=f"http://127.0.0.1:{port}", proc=proc, log=log, slack=slack)
    try:
        eventually(lambda: ready(started.url), timeout=30, what="chatops ready")
        yield started
    finally:
        proc.terminate()
        code = proc.wait(timeout=30)
        slack.stop()
        print(f"----- chatops log (exit {code}) -----\n{log.read_text()[-6000:]}")
        kube.kubectl("delete", "clusterrolebinding,clusterrole", role_name, check=False)
