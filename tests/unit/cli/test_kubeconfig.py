"""The command line reads kubeconfigs as kubectl does: merged lists, relative paths,
tokens, client certificates, exec plugins, and clear refusals."""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from controller.cli.errors import CliError
from controller.cli.kubeconfig import load, tls_context


def _write(
    path: Path,
    *,
    users: dict[str, Any],
    current: str = "dev",
    cluster: dict[str, Any] | None = None,
) -> Path:
    extra = cluster or {}
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:6443", **extra}}],
        "users": [{"name": name, "user": user} for name, user in users.items()],
        "contexts": [{"name": name, "context": {"cluster": "c", "user": name}} for name in users],
        "current-context": current,
    }
    path.write_text(json.dumps(config))
    return path


def _headers(path: Path | str, context: str | None = None) -> dict[str, str]:
    return dict(load(str(path), context=context).credentials.headers)


def test_a_token_or_a_token_file_is_sent_as_a_bearer_token(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("from-file\n")
    config = _write(
        tmp_path / "config",
        users={"dev": {"token": "t0k"}, "ci": {"tokenFile": "token"}},  # relative to the file
    )

    assert _headers(config) == {"Authorization": "Bearer t0k"}
    assert _headers(config, "ci") == {"Authorization": "Bearer from-file"}


def test_basic_auth_is_sent_as_basic(tmp_path: Path) -> None:
    config = _write(tmp_path / "config", users={"dev": {"username": "a", "password": "b"}})

    assert _headers(config) == {"Authorization": f"Basic {base64.b64encode(b'a:b').decode()}"}


def test_kubeconfig_lists_merge_with_the_first_file_winning_and_missing_files_skipped(
    tmp_path: Path,
) -> None:
    first = _write(tmp_path / "first", users={"dev": {"token": "first"}}, current="dev")
    second = _write(tmp_path / "second", users={"dev": {"token": "second"}, "ops": {}})
    paths = os.pathsep.join([str(tmp_path / "missing"), str(first), str(second)])

    assert _headers(paths) == {"Authorization": "Bearer first"}
    assert load(paths, context="ops").user_name == "ops"  # only the second file has it


def test_a_missing_kubeconfig_or_context_is_one_clear_line(tmp_path: Path) -> None:
    with pytest.raises(CliError, match=f"cannot load the kubeconfig {tmp_path}/none: no such file"):
        load(str(tmp_path / "none"), context=None)
    config = _write(tmp_path / "config", users={"dev": {}})
    with pytest.raises(CliError, match='context "prod" not found in the kubeconfig'):
        load(str(config), context="prod")


def test_an_auth_provider_is_refused_with_what_to_use_instead(tmp_path: Path) -> None:
    config = _write(tmp_path / "config", users={"dev": {"auth-provider": {"name": "oidc"}}})

    with pytest.raises(CliError, match="auth-provider oidc is not supported; use an exec"):
        load(str(config), context=None)


def _plugin(tmp_path: Path, body: str) -> Path:
    script = tmp_path / "bin" / "credential"
    script.parent.mkdir()
    script.write_text(f"#!{sys.executable}\n{body}")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


def test_an_exec_plugin_runs_with_its_args_env_and_exec_info_and_its_token_is_used(
    tmp_path: Path,
) -> None:
    _plugin(
        tmp_path,
        "import json, os, sys\n"
        "info = json.loads(os.environ['KUBERNETES_EXEC_INFO'])\n"
        "token = '-'.join([info['apiVersion'], os.environ['TEAM'], *sys.argv[1:]])\n"
        "print(json.dumps({'kind': 'ExecCredential', 'status': {'token': token}}))\n",
    )
    spec = {
        "apiVersion": "client.authentication.k8s.io/v1",
        "command": "./bin/credential",  # relative to the kubeconfig's directory
        "args": ["a", "b"],
        "env": [{"name": "TEAM", "value": "shop"}],
    }
    config = _write(tmp_path / "config", users={"dev": {"exec": spec}})

    assert _headers(config) == {"Authorization": "Bearer client.authentication.k8s.io/v1-shop-a-b"}


def test_a_failing_exec_plugin_says_why(tmp_path: Path) -> None:
    _plugin(tmp_path, "import sys\nprint('login expired', file=sys.stderr)\nsys.exit(1)\n")
    spec = {"apiVersion": "client.authentication.k8s.io/v1beta1", "command": "./bin/credential"}
    config = _write(tmp_path / "config", users={"dev": {"exec": spec}})

    with pytest.raises(CliError, match="exec credential plugin failed: login expired"):
        load(str(config), context=None)


def test_a_missing_exec_plugin_shows_its_install_hint(tmp_path: Path) -> None:
    spec = {
        "apiVersion": "client.authentication.k8s.io/v1",
        "command": "no-such-plugin-here",
        "installHint": "install it with: apt-get install no-such-plugin",
    }
    config = _write(tmp_path / "config", users={"dev": {"exec": spec}})

    with pytest.raises(CliError, match="install it with: apt-get install no-such-plugin"):
        load(str(config), context=None)


def _certificate() -> tuple[bytes, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "alice")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + timedelta(hours=1))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def test_client_certificate_and_ca_data_make_the_tls_context(tmp_path: Path) -> None:
    cert, key = _certificate()
    b64 = base64.b64encode
    user = {"client-certificate-data": b64(cert).decode(), "client-key-data": b64(key).decode()}
    config = _write(
        tmp_path / "config",
        users={"dev": user},
        cluster={"certificate-authority-data": b64(cert).decode(), "tls-server-name": "kubernetes"},
    )

    target = load(str(config), context=None)
    context = tls_context(target)

    assert target.server_name == "kubernetes"
    assert target.credentials.cert_pem == cert
    assert context.cert_store_stats()["x509"] == 1  # the kubeconfig's CA only, not the system's


def test_a_client_certificate_that_does_not_match_its_key_is_refused(tmp_path: Path) -> None:
    cert, _ = _certificate()
    _, other_key = _certificate()
    b64 = base64.b64encode
    user = {
        "client-certificate-data": b64(cert).decode(),
        "client-key-data": b64(other_key).decode(),
    }
    config = _write(tmp_path / "config", users={"dev": user})

    with pytest.raises(CliError, match="unusable client certificate"):
        tls_context(load(str(config), context=None))


def test_a_yaml_kubeconfig_reads_as_its_json_twin(tmp_path: Path) -> None:
    as_json = _write(
        tmp_path / "config.json",
        users={"dev": {"token": "t0k"}},
        cluster={"insecure-skip-tls-verify": True},
    )
    as_yaml = tmp_path / "config.yaml"
    as_yaml.write_text(yaml.safe_dump(json.loads(as_json.read_text())))

    assert load(str(as_yaml), context=None) == load(str(as_json), context=None)
    assert load(str(as_yaml), context=None).insecure


def test_a_json_kubeconfig_is_read_without_pyyaml(tmp_path: Path) -> None:
    config = _write(tmp_path / "config", users={"dev": {"token": "t0k"}})
    probe = (
        "import sys\n"
        "from controller.cli.kubeconfig import load\n"
        f"load({str(config)!r}, context=None)\n"
        "print('yaml' in sys.modules)\n"
    )

    done = subprocess.run(
        [sys.executable, "-c", probe],
        env={"PYTHONPATH": str(Path(__file__).resolve().parents[3])},
        capture_output=True,
        text=True,
        check=True,
    )

    assert done.stdout == "False\n"
