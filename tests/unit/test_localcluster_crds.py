"""The mechanical v1beta1 → v1 CRD rewrite used for SMI's TrafficSplit."""

from __future__ import annotations

from typing import Any

from e2e.localcluster.crds import v1beta1_to_v1


def _v1beta1() -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1beta1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "trafficsplits.split.smi-spec.io"},
        "spec": {
            "group": "split.smi-spec.io",
            "scope": "Namespaced",
            "names": {"kind": "TrafficSplit", "plural": "trafficsplits"},
            "version": "v1alpha4",
            "versions": [
                {"name": "v1alpha4", "served": True, "storage": True},
                {"name": "v1alpha3", "served": False, "storage": False},
            ],
            "additionalPrinterColumns": [
                {"name": "Service", "type": "string", "JSONPath": ".spec.service"}
            ],
            "validation": {
                "openAPIV3Schema": {
                    "properties": {"spec": {"type": "object", "required": ["service"]}}
                }
            },
        },
    }


def test_every_version_gets_the_schema_and_printer_columns() -> None:
    converted = v1beta1_to_v1(_v1beta1())
    assert converted["apiVersion"] == "apiextensions.k8s.io/v1"
    spec = converted["spec"]
    assert "validation" not in spec
    assert "version" not in spec
    assert "additionalPrinterColumns" not in spec
    assert [v["name"] for v in spec["versions"]] == ["v1alpha4", "v1alpha3"]
    for version in spec["versions"]:
        schema = version["schema"]["openAPIV3Schema"]
        assert schema["type"] == "object"  # v1 requires a structural root
        assert schema["properties"]["spec"]["required"] == ["service"]
        assert version["additionalPrinterColumns"] == [
            {"name": "Service", "type": "string", "jsonPath": ".spec.service"}
        ]
    assert spec["names"] == {"kind": "TrafficSplit", "plural": "trafficsplits"}


def test_single_version_crd_becomes_one_served_storage_version() -> None:
    crd = _v1beta1()
    del crd["spec"]["versions"]
    versions = v1beta1_to_v1(crd)["spec"]["versions"]
    assert [(v["name"], v["served"], v["storage"]) for v in versions] == [("v1alpha4", True, True)]


def test_v1_crds_pass_through_unchanged() -> None:
    crd = {"apiVersion": "apiextensions.k8s.io/v1", "spec": {"versions": []}}
    assert v1beta1_to_v1(crd) is crd
