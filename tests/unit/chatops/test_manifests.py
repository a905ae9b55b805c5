"""The shipped chat-ops manifests: exactly the rights the issue allows, and a Deployment
whose arguments are valid settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from controller.chatops.settings import ChatopsSettings
from controller.cli.arguments import parse

HERE = Path(__file__).parents[3] / "manifests" / "chatops"


def _docs(name: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((HERE / name).read_text()) if d]


def _rules(kind: str) -> set[tuple[str, str, str, tuple[str, ...]]]:
    role = next(d for d in _docs("rbac.yaml") if d["kind"] == kind)
    return {
        (group, resource, verb, tuple(rule.get("resourceNames", ())))
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


def test_the_bot_may_read_and_patch_rollouts_ask_about_people_and_nothing_more() -> None:
    assert _rules("ClusterRole") == {
        *(("landinggear.dev", "rollouts", v, ()) for v in ("get", "list", "watch", "patch")),
        # delegate: its request annotations name the chat user (controller/admission.yaml)
        ("landinggear.dev", "rollouts", "delegate", ()),
        *(("events.k8s.io", "events", v, ()) for v in ("get", "list", "watch", "create")),
        ("authorization.k8s.io", "subjectaccessreviews", "create", ()),
    }
    assert _rules("Role") == {("", "configmaps", "get", ("landinggear-chatops-identities",))}


def test_the_deployment_runs_chatops_as_its_own_account_with_valid_arguments() -> None:
    deployment = next(d for d in _docs("deployment.yaml") if d["kind"] == "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "landinggear-chatops"
    [container] = pod["containers"]
    args = parse(container["args"])
    assert args.command == "chatops"
    settings = ChatopsSettings(
        listen=args.listen,
        identities=args.identities,
        slack_signing_secret_file=args.slack_signing_secret_file,
    )
    assert settings.problem() is None
    assert settings.listen == "0.0.0.0:8081"
    names = {d["metadata"]["name"] for d in _docs("identities.yaml")}
    assert settings.identities_ref[1] in names
