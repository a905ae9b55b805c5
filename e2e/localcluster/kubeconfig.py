"""Kubeconfig files for each client identity of the local control plane."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from e2e.localcluster import pki

CONTEXT = "landinggear-local"


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def render(*, server: str, pki_dir: Path, identity: pki.ClientIdentity) -> str:
    """A kubeconfig (JSON is valid YAML) with the certificates embedded."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": CONTEXT,
                "cluster": {
                    "server": server,
                    "certificate-authority-data": _b64(pki_dir / "ca.crt"),
                },
            }
        ],
        "users": [
            {
                "name": identity.user,
                "user": {
                    "client-certificate-data": _b64(pki_dir / f"{identity.file_stem}.crt"),
                    "client-key-data": _b64(pki_dir / f"{identity.file_stem}.key"),
                },
            }
        ],
        "contexts": [
            {
                "name": CONTEXT,
                "context": {"cluster": CONTEXT, "user": identity.user, "namespace": "default"},
            }
        ],
        "current-context": CONTEXT,
    }
    return json.dumps(config, indent=2)


def write_all(*, run_dir: Path, server: str, pki_dir: Path) -> dict[str, Path]:
    """Write one kubeconfig per identity; keys are the identities' file stems."""
    written: dict[str, Path] = {}
    for identity in pki.IDENTITIES:
        path = run_dir / f"{identity.file_stem}.kubeconfig"
        path.write_text(render(server=server, pki_dir=pki_dir, identity=identity))
        path.chmod(0o600)
        written[identity.file_stem] = path
    return written
