"""``landinggear chatops`` as a real process, against loopback stand-ins for the API server
and for Slack: settings from flags and the environment, readiness after the first
read of the identities, a signed command carried out by the real Actor (whose
SubjectAccessReview the stand-in API answers "not allowed"), the token checked with
``auth.test``, and a clean exit on SIGTERM. No cluster; ``tests/cluster`` has the
real thing."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from controller.chatops.settings import ChatopsSettings
from controller.cli import main
from tests.support.fake_api import FakeApi
from tests.support.slack import (
    SECRET,
    TEAM,
    SlackStandIn,
    command_body,
    command_fields,
    post,
    signed_headers,
)
from tests.support.socket_mode import SocketModeStandIn, command_envelope
from tests.support.waiting import eventually

ROOT = Path(__file__).parents[3]
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


@pytest.fixture
def api() -> Iterator[FakeApi]:
    fake = FakeApi().start()
    fake.answer("GET", IDS, 200, {"kind": "ConfigMap", "data": {
        f"slack.{TEAM}.U0BOB": "{user: bob}"}})  # fmt: skip
    fake.answer("POST", REVIEWS, 201, {"status": {"allowed": False}})
    fake.answer("GET", ROLLOUT, 200, {
        "apiVersion": "landinggear.dev/v1alpha1", "kind": "Rollout",
        "metadata": {"name": "checkout", "namespace": "payments", "uid": "u1",
                     "resourceVersion": "7"}})  # fmt: skip
    fake.answer("POST", EVENTS, 201, {"kind": "Event"})
    yield fake
    fake.stop()


def test_the_process_serves_a_signed_command_with_the_persons_rights(
    api: FakeApi, tmp_path: Path
) -> None:
    slack = SlackStandIn().start()
    (tmp_path / "secret").write_text(SECRET + "\n")
    (tmp_path / "token").write_text("xoxb-test\n")
    port = _free_port()
    env = {**os.environ, "LANDINGGEAR_CHATOPS_SLACK_API_URL": slack.api_url,
           "LANDINGGEAR_CHATOPS_IDENTITIES_REFRESH": "0.2"}  # fmt: skip
    log = tmp_path / "chatops.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "controller", "chatops", f"--listen=127.0.0.1:{port}",
             f"--kubeconfig={api.kubeconfig(tmp_path)}", "--instance=test-bot",
             f"--slack-signing-secret-file={tmp_path / 'secret'}",
             f"--slack-token-file={tmp_path / 'token'}"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        eventually(lambda: _get(f"{base}/readyz") == 200, timeout=15, what="ready")
        assert _get(f"{base}/healthz") == 200
        url = slack.response_url()
        body = command_body("abort payments/checkout", user="U0BOB", name="bob", response_url=url)
        status, _ = post(f"{base}/slack/commands", body, signed_headers(body))
        assert status == 200
        reply = slack.wait_reply(url)
        assert reply["response_type"] == "ephemeral"
        assert "Kubernetes user bob) may not patch rollout payments/checkout" in reply["text"]
        [review] = api.seen("POST", REVIEWS)
        assert review["spec"]["user"] == "bob"
        assert review["spec"]["resourceAttributes"]["verb"] == "patch"
        [event] = api.seen("POST", EVENTS)
        assert event["type"] == "Warning"
        assert event["reportingInstance"] == "test-bot"
        assert api.seen("PATCH", ROLLOUT) == []  # nothing changed
        eventually(lambda: [p for p in slack.posts if p.path == "/api/auth.test"],
                   timeout=5, what="auth.test")  # fmt: skip
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        slack.stop()
        print(log.read_text()[-3000:])


def test_the_process_serves_socket_mode_with_no_http_endpoint(api: FakeApi, tmp_path: Path) -> None:
    slack = SlackStandIn().start()
    ws = SocketModeStandIn().start()
    slack.socket_url = ws.url
    (tmp_path / "app-token").write_text("xapp-1-A0LANDINGGEAR-1-stand-in\n")
    port = _free_port()
    env = {**os.environ, "LANDINGGEAR_CHATOPS_SLACK_API_URL": slack.api_url,
           "LANDINGGEAR_CHATOPS_IDENTITIES_REFRESH": "0.2"}  # fmt: skip
    log = tmp_path / "chatops.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "controller", "chatops", f"--listen=127.0.0.1:{port}",
             f"--kubeconfig={api.kubeconfig(tmp_path)}", "--instance=test-bot",
             f"--slack-app-token-file={tmp_path / 'app-token'}"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        eventually(lambda: _get(f"{base}/readyz") == 200, timeout=15, what="ready")
        assert _get(f"{base}/healthz") == 200
        ws.wait_connections(1)
        body = command_body("abort payments/checkout", response_url=slack.response_url(9))
        assert post(f"{base}/slack/commands", body, signed_headers(body))[0] == 404
        url = slack.response_url()
        fields = command_fields("abort payments/checkout", user="U0BOB", name="bob",
                                response_url=url)  # fmt: skip
        envelope = command_envelope(fields)
        ws.send(envelope)
        ack = ws.wait_ack(envelope["envelope_id"])
        assert ack.payload is not None
        assert ack.payload["text"] == "Working on it: abort payments/checkout…"
        reply = slack.wait_reply(url)
        assert "Kubernetes user bob) may not patch rollout payments/checkout" in reply["text"]
        assert api.seen("PATCH", ROLLOUT) == []  # nothing changed
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        ws.stop()
        slack.stop()
        print(log.read_text()[-3000:])


def test_with_no_chat_network_it_exits_2_saying_so(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["chatops"]) == 2
    assert "no chat network configured" in capsys.readouterr().err


def test_a_token_without_a_signing_secret_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "token").write_text("xoxb-1")
    assert main(["chatops", f"--slack-token-file={tmp_path / 'token'}"]) == 2
    assert "needs --slack-signing-secret-file" in capsys.readouterr().err


def test_an_unreadable_or_empty_secret_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["chatops", f"--slack-signing-secret-file={tmp_path / 'absent'}"]) == 2
    assert "cannot read the Slack signing secret" in capsys.readouterr().err
    (tmp_path / "empty").write_text("\n")
    assert main(["chatops", f"--slack-signing-secret-file={tmp_path / 'empty'}"]) == 2
    assert "is empty" in capsys.readouterr().err


def test_settings_come_from_the_environment_and_flags_win(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LANDINGGEAR_CHATOPS_LISTEN", "0.0.0.0:9000")
    monkeypatch.setenv("LANDINGGEAR_CHATOPS_SLACK_API_URL", "http://127.0.0.1:1/api")
    settings = ChatopsSettings(workers=3)
    assert (settings.listen, settings.slack_api_url, settings.workers) == (
        "0.0.0.0:9000", "http://127.0.0.1:1/api/", 3,
    )  # fmt: skip
    assert settings.identities_ref == ("landinggear-system", "landinggear-chatops-identities")
    assert main(["chatops", "--identities=nope"]) == 2
    assert "NAMESPACE/CONFIGMAP" in capsys.readouterr().err
    monkeypatch.setenv("LANDINGGEAR_CHATOPS_LISTEN", "8081")
    assert main(["chatops"]) == 2
    assert "listen must be host:port" in capsys.readouterr().err


def test_identity_key_prints_the_configmap_key(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["chatops", "identity-key", "@alice:example.org"]) == 0
    assert capsys.readouterr().out == "matrix.alice_3aexample.org\n"
    assert main(["chatops", "identity-key", TEAM, "U0G9QF9C6"]) == 0
    assert capsys.readouterr().out == f"slack.{TEAM}.U0G9QF9C6\n"
    assert main(["chatops", "identity-key", "alice"]) == 1
