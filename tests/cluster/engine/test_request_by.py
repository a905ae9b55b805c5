"""``by`` is who wrote it: the shipped ValidatingAdmissionPolicy
(``manifests/controller/admission.yaml``) on the real API server refuses a request
annotation naming anyone but the authenticated writer, lets a ``delegate`` (the
chat-ops bot's right) name a chat user, and the controller never acts on a body
that names ``by`` twice (admission reads the first, ``json`` would keep the last)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.support.accounts import service_account_kubeconfig
from tests.support.kube import ClusterUnderTest
from tests.support.scenario import Harness
from tests.support.waiting import eventually

ROOT = Path(__file__).parents[3]
POLICY = ROOT / "manifests" / "controller" / "admission.yaml"
KEY = "request.landinggear.dev/abort"


def _body(by: str, *, twice: str = "") -> str:
    extra = f', "by": "{twice}"' if twice else ""
    at = datetime.now(UTC).isoformat()
    return f'{{"at": "{at}", "by": "{by}"{extra}, "id": "{time.time_ns()}"}}'


def _annotate(
    kube: ClusterUnderTest, kubeconfig: Path, namespace: str, value: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(kube.kubectl_path), f"--kubeconfig={kubeconfig}", "annotate", "--overwrite",
         "rollouts.landinggear.dev/web", f"--namespace={namespace}", f"{KEY}={value}"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def _user(
    kube: ClusterUnderTest, namespace: str, name: str, tmp_path: Path, *verbs: str
) -> tuple[Path, str]:
    """A ServiceAccount allowed ``verbs`` on rollouts: its kubeconfig and username."""
    config = service_account_kubeconfig(kube, namespace, name, tmp_path / name)
    kube.kubectl("create", "role", name, "-n", namespace, f"--verb={','.join(verbs)}",
                 "--resource=rollouts.landinggear.dev")  # fmt: skip
    kube.kubectl("create", "rolebinding", name, "-n", namespace, f"--role={name}",
                 f"--serviceaccount={namespace}:{name}")  # fmt: skip
    return config, f"system:serviceaccount:{namespace}:{name}"


@pytest.fixture
def policy(kube: ClusterUnderTest) -> None:
    """The shipped policy and binding, as `kubectl apply -k manifests/` installs them."""
    kube.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(POLICY))


def test_a_request_naming_someone_else_is_refused_and_one_naming_its_writer_acted_on(
    harness: Harness, policy: None, tmp_path: Path
) -> None:
    kube, namespace = harness.kube, harness.namespace
    harness.create_app(replicas=2)
    harness.start_controller()
    harness.create_rollout(steps=[{"setWeight": 50}, {"pause": {}}])
    harness.wait_status("adopted", phase="Healthy")
    harness.set_image("web:v2")
    harness.wait_status("paused at 50 %", phase="Paused", canaryWeight=50)
    mallory, mallory_name = _user(kube, namespace, "mallory", tmp_path, "get", "patch")

    def refused() -> subprocess.CompletedProcess[str] | None:  # the policy takes a moment
        done = _annotate(kube, mallory, namespace, _body("landinggear-admin"))
        return done if done.returncode != 0 else None

    done = eventually(refused, timeout=30, what="the policy to refuse a forged by")
    assert "ValidatingAdmissionPolicy 'landinggear-request-by'" in done.stderr, done.stderr
    assert f'must name its writer: "by": "{mallory_name}"' in done.stderr, done.stderr
    # Claiming a chat user needs the delegate right; the key twice reaches the controller.
    assert _annotate(kube, mallory, namespace, _body("slack:alice")).returncode != 0
    twice = _annotate(kube, mallory, namespace, _body(mallory_name, twice="landinggear-admin"))
    assert twice.returncode == 0, twice.stderr
    time.sleep(3)
    assert harness.status()["phase"] == "Paused"  # not acted on, as anyone

    cli = subprocess.run(
        [str(Path(sys.executable).parent / "landinggear"), f"--kubeconfig={mallory}",
         f"--namespace={namespace}", "abort", "web", "--reason", "errors"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert cli.returncode == 0, cli.stderr
    status = harness.wait_status("aborted", phase="Degraded")
    aborted = [h for h in status["history"] if h["action"] == "Aborted"]
    assert [h["by"] for h in aborted] == [mallory_name]


def test_a_delegate_may_name_the_chat_user_it_acts_for_and_nobody_else(
    harness: Harness, policy: None, tmp_path: Path
) -> None:
    kube, namespace = harness.kube, harness.namespace
    harness.create_app(replicas=2)
    harness.create_rollout(steps=[{"setWeight": 50}, {"pause": {}}])
    bot, bot_name = _user(kube, namespace, "bot", tmp_path, "get", "patch", "delegate")

    def admitted() -> bool | None:  # the RoleBinding takes a moment
        return (
            True if _annotate(kube, bot, namespace, _body("slack:alice")).returncode == 0 else None
        )

    eventually(admitted, timeout=30, what="a delegate's request naming slack:alice")
    stored = json.loads(harness.rollout()["metadata"]["annotations"][KEY])
    assert stored["by"] == "slack:alice"
    assert _annotate(kube, bot, namespace, _body("matrix:@alice:example.org")).returncode == 0
    assert _annotate(kube, bot, namespace, _body(bot_name)).returncode == 0  # itself, as anyone
    assert _annotate(kube, bot, namespace, _body("landinggear-admin")).returncode != 0
