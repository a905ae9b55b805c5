"""checkov's Kubernetes checks over every install a cluster admin applies
(``python -m e2e.checkov``): nothing fails, and each finding kept on purpose
carries its reason in the manifest and is listed in the README."""

from __future__ import annotations

import re
from pathlib import Path

from e2e import checkov

README = Path(__file__).parents[2] / "README.md"


def test_checkov_finds_nothing_but_the_findings_kept_on_purpose() -> None:
    found = checkov.scan()
    assert found.failed == []
    assert found.passed > 100
    kept = {line.split()[0] for line in found.skipped}
    for line in found.skipped:
        assert re.fullmatch(r"\S+ \S+: .{10,}", line), f"a skip without its reason: {line}"
    section = README.read_text().split("### checkov", 1)[1].split("\n#", 1)[0]
    assert kept <= set(re.findall(r"CKV2?_K8S_\d+", section)), "README: Install, checkov"
