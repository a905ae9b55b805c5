"""The chat-ops process never prints its Slack secrets nor its API token, at debug.

``landinggear chatops`` runs as deployed, with canary values in every secret it
holds: the Slack signing secret (verifies Slack's requests), the bot token
(posts), the app-level token (Socket Mode) and the kubeconfig's bearer token.
Slack's Web API and the API server are both a loopback backend that fails every
request and echoes the request's ``Authorization`` back (Slack's servers cannot
be reached here; :mod:`tests.support.echoing`). Requests signed with the canary
secret, forged ones and replays are sent to it; everything it prints at
``--log-level=debug`` is searched for each canary.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.chatops_bot import free_port
from tests.support.echoing import EchoingBackend
from tests.support.kubeconfigs import token_kubeconfig
from tests.support.slack import click_body, command_body, post, signed_headers

pytestmark = pytest.mark.unit

ROOT = Path(__file__).parents[3]
CANARIES = {
    "signing": "canary-signing-secret-3c9e71",
    "bot": "xoxb-canary-bot-token-81d2",
    "app": "xapp-1-canary-app-token-5e0a",
    "kube": "canary-chatops-kube-token-b47f",
}


def test_the_chatops_process_never_prints_a_secret(tmp_path: Path) -> None:
    backend = EchoingBackend()
    files = {}
    for name in ("signing", "bot", "app"):
        files[name] = tmp_path / name
        files[name].write_text(CANARIES[name] + "\n")
    kubeconfig = token_kubeconfig(tmp_path / "kubeconfig", server=backend.url,
                                  token=CANARIES["kube"])  # fmt: skip
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "controller", "chatops", "--log-level=debug",
         f"--kubeconfig={kubeconfig}", f"--listen=127.0.0.1:{port}",
         f"--slack-signing-secret-file={files['signing']}",
         f"--slack-token-file={files['bot']}", f"--slack-app-token-file={files['app']}",
         f"--slack-api-url={backend.url}/api/", "--slack-channel=C0RELEASES"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}/slack/commands"
        answers: list[tuple[int, bytes]] = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not answers:
            try:
                answers.append(post(url, b"text=x", {"Content-Type": "text/plain"}, timeout=2))
            except OSError:
                time.sleep(0.2)
        reply_to = f"{backend.url}/api/respond"
        bodies = [command_body("rollback shop/web", response_url=reply_to),
                  click_body("rollback shop/web", response_url=reply_to)]  # fmt: skip
        for body in bodies:
            headers = signed_headers(body, secret=CANARIES["signing"])
            answers.append(post(url, body, headers))
            answers.append(post(url, body, headers))  # a replay
            answers.append(post(url, body, signed_headers(body, secret="forged")))
            path = "/slack/actions" if body.startswith(b"payload=") else "/slack/commands"
            answers.append(post(f"http://127.0.0.1:{port}{path}", body, headers))
        time.sleep(3)  # Socket Mode and the workers keep failing against the echo meanwhile
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
        backend.stop()

    assert answers, out[-2000:]
    assert backend.received, "nothing reached the echoing backend"
    assert any(CANARIES["app"] in h for h in backend.received), "Socket Mode never tried"
    assert any(CANARIES["kube"] in h for h in backend.received), "the API never tried"
    for name, canary in CANARIES.items():
        assert canary not in out, f"the {name} secret leaked"
        for answer in answers:
            assert canary.encode() not in answer[1], f"the {name} secret was answered"
