"""The checked-in CRD is generated from the models, and says what the models say."""

from __future__ import annotations

from pathlib import Path

import yaml

from controller.api import crd, v1alpha1

MANIFEST = Path(__file__).parents[2] / "manifests" / "crds" / "rollouts.landinggear.dev.yaml"


def test_checked_in_crd_is_the_generated_one() -> None:
    assert MANIFEST.read_text() == crd.render(), (
        "manifests/crds is stale: run `python -m controller.api.crd > "
        "manifests/crds/rollouts.landinggear.dev.yaml`"
    )


def _schema() -> dict[str, object]:
    doc = yaml.safe_load(MANIFEST.read_text())
    version = doc["spec"]["versions"][0]
    return dict(version["schema"]["openAPIV3Schema"])


def test_every_status_field_of_the_model_is_in_the_schema() -> None:
    # The API server prunes fields the schema does not list: a field missing here
    # would be silently dropped from every status the controller writes.
    properties = _schema()["properties"]["status"]["properties"]  # type: ignore[index]
    for field in v1alpha1.RolloutStatus.model_fields.values():
        assert field.alias in properties


def test_schema_is_structural() -> None:
    def walk(node: object, path: str) -> None:
        if isinstance(node, dict):
            assert "$ref" not in node, path
            assert "anyOf" not in node, path
            if "properties" in node:
                assert node.get("type") == "object", path
            for flag in ("exclusiveMinimum", "exclusiveMaximum"):
                assert isinstance(node.get(flag, False), bool), f"{path}.{flag}"
            for key, value in node.items():
                walk(value, f"{path}.{key}")
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, f"{path}[{index}]")

    walk(_schema(), "openAPIV3Schema")


def test_printer_columns_and_short_name() -> None:
    doc = yaml.safe_load(MANIFEST.read_text())
    columns = [c["name"] for c in doc["spec"]["versions"][0]["additionalPrinterColumns"]]
    assert columns == ["Phase", "Weight", "Step", "Stable", "Canary", "Age"]
    assert doc["spec"]["names"]["shortNames"] == list(v1alpha1.SHORT_NAMES)
