"""The shipped chat-ops install renders with the pinned kubectl's kustomize, alone and
with Matrix added (``manifests/chatops-matrix``), into a Deployment whose arguments are
valid settings for the networks it mounts Secrets for."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from controller.chatops.settings import ChatopsSettings
from controller.cli.arguments import parse
from tests.support.kube import ClusterUnderTest

ROOT = Path(__file__).parents[2]


def _deployment(kube: ClusterUnderTest, folder: str) -> dict[str, Any]:
    out = kube.kubectl("kustomize", str(ROOT / "manifests" / folder)).stdout
    docs = [d for d in yaml.safe_load_all(out) if d]
    deployment: dict[str, Any] = next(d for d in docs if d["kind"] == "Deployment")
    return deployment


@pytest.mark.parametrize(
    ("folder", "networks"), [("chatops", ["slack"]), ("chatops-matrix", ["slack", "matrix"])]
)
def test_the_install_renders_a_runnable_bot(
    kube: ClusterUnderTest, folder: str, networks: list[str]
) -> None:
    pod = _deployment(kube, folder)["spec"]["template"]["spec"]
    [container] = pod["containers"]
    args = parse(container["args"])
    settings = ChatopsSettings(
        listen=args.listen,
        identities=args.identities,
        slack_signing_secret_file=args.slack_signing_secret_file,
        slack_token_file=args.slack_token_file,
        matrix_homeserver=args.matrix_homeserver,
        matrix_token_file=args.matrix_token_file,
        matrix_room=tuple(args.matrix_room or ()),
    )
    assert settings.problem() is None
    assert settings.networks() == networks
    mounted = {m["mountPath"] for m in container["volumeMounts"]}
    files = [settings.slack_signing_secret_file, settings.matrix_token_file]
    assert all(str(Path(f).parent) in mounted for f in files if f)
    secrets = {v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v}
    assert ("landinggear-chatops-matrix" in secrets) == ("matrix" in networks)
