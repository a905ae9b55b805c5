"""``landinggear chatops`` with Matrix alone, as a real process: the real Synapse, and a
loopback stand-in for the API server (:class:`tests.support.fake_api.FakeApi`) whose
SubjectAccessReview answers "not allowed". The engineer's command reaches the real
Actor with their mapped identity and the refusal comes back in a thread; SIGTERM
exits 0. No cluster: ``tests/cluster/engine/test_chatops_matrix.py`` has the real one.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from controller.chatops.identities import matrix_key
from controller.cli import main
from e2e.matrix import SynapseServer
from e2e.matrix.client import ChatUser
from tests.support.aio import synchronously
from tests.support.fake_api import FakeApi
from tests.support.matrix import account
from tests.support.waiting import eventually

ROOT = Path(__file__).parents[2]
IDS = "/api/v1/namespaces/landinggear-system/configmaps/landinggear-chatops-identities"
ROLLOUT = "/apis/landinggear.dev/v1alpha1/namespaces/payments/rollouts/checkout"
REVIEWS = "/apis/authorization.k8s.io/v1/subjectaccessreviews"
EVENTS = "/apis/events.k8s.io/v1/namespaces/payments/events"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return int(response.status)
    except urllib.error.HTTPError as err:
        with err:
            return err.code
    except OSError:
        return 0


@pytest.fixture
def api() -> Iterator[FakeApi]:
    fake = FakeApi().start()
    fake.answer("POST", REVIEWS, 201, {"status": {"allowed": False}})
    fake.answer("GET", ROLLOUT, 200, {
        "apiVersion": "landinggear.dev/v1alpha1", "kind": "Rollout",
        "metadata": {"name": "checkout", "namespace": "payments", "uid": "u1",
                     "resourceVersion": "7"}})  # fmt: skip
    fake.answer("POST", EVENTS, 201, {"kind": "Event"})
    yield fake
    fake.stop()


@synchronously
async def test_matrix_alone_serves_a_command_with_the_persons_rights(
    synapse: SynapseServer, api: FakeApi, tmp_path: Path
) -> None:
    bot_account, bob_account = account(synapse, "bot"), account(synapse, "bob")
    api.answer("GET", IDS, 200, {"kind": "ConfigMap", "data": {
        str(matrix_key(bob_account.user_id)): "{user: bob}"}})  # fmt: skip
    (tmp_path / "token").write_text(bot_account.access_token + "\n")
    port = _free_port()
    log = tmp_path / "chatops.log"
    async with ChatUser(synapse.url, bob_account) as bob:
        room = await bob.create_room(name="deploys", invite=[bot_account.user_id])
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "controller", "chatops", f"--listen=127.0.0.1:{port}",
                 f"--kubeconfig={api.kubeconfig(tmp_path)}", "--instance=test-bot",
                 f"--matrix-homeserver={synapse.url}",
                 f"--matrix-token-file={tmp_path / 'token'}", f"--matrix-room={room}",
                 "--matrix-poll=2", "--identities-refresh=0.2"],
                cwd=ROOT, env=dict(os.environ), stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        try:
            base = f"http://127.0.0.1:{port}"
            eventually(lambda: _get(f"{base}/readyz") == 200, timeout=30, what="ready")
            assert _get(f"{base}/healthz") == 200
            sent = await bob.send_text(room, "!landinggear abort payments/checkout now")
            answer = await bob.wait_for(room, lambda m: m.thread_root == sent, timeout=30)
            assert answer.sender == bot_account.user_id
            assert "(Kubernetes user bob) may not patch rollout payments/checkout" in answer.body
            [review] = api.seen("POST", REVIEWS)
            assert review["spec"]["user"] == "bob"
            [event] = api.seen("POST", EVENTS)
            assert event["type"] == "Warning"
            assert f"matrix:{bob_account.user_id}" in event["note"]
            assert api.seen("PATCH", ROLLOUT) == []
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=15) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            print(log.read_text()[-3000:])


def test_matrix_settings_must_be_complete(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["chatops", "--matrix-homeserver=http://127.0.0.1:1"]) == 2
    assert "needs --matrix-token-file FILE and --matrix-room ROOM" in capsys.readouterr().err
    assert main(["chatops", "--matrix-room=!a:example.org"]) == 2
    assert "need --matrix-homeserver" in capsys.readouterr().err
    assert main(["chatops", "--matrix-homeserver=http://127.0.0.1:1", "--matrix-room=ops"]) == 2
    assert "a room id !id or an alias #name:server" in capsys.readouterr().err
    assert main(["chatops", "--matrix-homeserver=http://127.0.0.1:1", "--matrix-room=!a:b",
                 f"--matrix-token-file={tmp_path / 'absent'}"]) == 2  # fmt: skip
    assert "cannot read the Matrix access token" in capsys.readouterr().err
