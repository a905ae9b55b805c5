"""Reading a kubeconfig the way kubectl does, into what a request needs.

``KUBECONFIG`` may list several files (``:``-separated): they are merged, the first
file naming a cluster, user or context winning, as is the first ``current-context``;
files in the list that do not exist are skipped, but one named alone must exist.
Relative paths in a file are relative to that file's directory.

A user authenticates with a bearer token (``token``, ``tokenFile``), a client
certificate (``client-certificate[-data]`` and ``client-key[-data]``), basic auth,
or an exec credential plugin (``client.authentication.k8s.io`` ``v1`` and
``v1beta1``, which answers a token or a client certificate). The cluster's CA
(``certificate-authority[-data]``), ``insecure-skip-tls-verify`` and
``tls-server-name`` decide TLS. Refused with a clear message: ``auth-provider``
(kubectl's own gcp/azure providers are gone too; use an exec plugin) and
``proxy-url``.
"""

from __future__ import annotations

import base64
import json
import os
import ssl
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from controller.cli.errors import CliError

__all__ = ["Credentials", "Target", "load", "tls_context"]

_EXEC_API_VERSIONS = ("client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1")
_PATH_KEYS = {
    "cluster": ("certificate-authority",),
    "user": ("client-certificate", "client-key", "tokenFile"),
}


@dataclass(frozen=True, kw_only=True)
class Credentials:
    """How the user proves who it is: headers to send, and a client certificate (PEM)."""

    headers: tuple[tuple[str, str], ...] = ()
    cert_pem: bytes | None = None
    key_pem: bytes | None = None


@dataclass(frozen=True, kw_only=True)
class Target:
    """The chosen context: where to connect, as whom, and in which namespace."""

    server: str
    namespace: str | None
    user_name: str
    ca_pem: str | None = None
    insecure: bool = False
    server_name: str | None = None
    credentials: Credentials = field(default_factory=Credentials)


def _read_yaml(path: Path) -> dict[str, Any]:
    """The file's mapping: JSON (a YAML document too) is read without importing PyYAML,
    whose import takes 14 to 30 ms here (``python -X importtime``)."""
    text = path.read_text()
    data: Any
    if text.lstrip().startswith("{"):
        try:
            data = json.loads(text)
        except ValueError:
            pass
        else:
            if isinstance(data, dict):
                return data
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        data = yaml.load(text, Loader=loader)  # noqa: S506 - a safe loader
    except yaml.YAMLError as err:
        raise CliError(f"cannot load the kubeconfig {path}: not YAML ({err})") from err
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise CliError(f"cannot load the kubeconfig {path}: not a kubeconfig")
    return data


def _absolute(entry: dict[str, Any], keys: Sequence[str], base: Path) -> dict[str, Any]:
    out = dict(entry)
    for key in keys:
        value = out.get(key)
        if isinstance(value, str) and value and not os.path.isabs(value):
            out[key] = str(base / value)
    if isinstance(out.get("exec"), dict):
        command = str(out["exec"].get("command") or "")
        if os.sep in command and not os.path.isabs(command):
            out["exec"] = {**out["exec"], "command": str(base / command)}
    return out


def _merged(paths: str) -> dict[str, Any]:
    names = [p for p in paths.split(os.pathsep) if p]
    merged: dict[str, Any] = {"clusters": {}, "users": {}, "contexts": {}}
    current = ""
    found = False
    for name in names:
        path = Path(name).expanduser()
        if not path.is_file():
            if len(names) == 1:
                why = "not a file" if path.exists() else "no such file"
                raise CliError(f"cannot load the kubeconfig {name}: {why}")
            continue
        found = True
        data = _read_yaml(path)
        for plural, singular in (("clusters", "cluster"), ("users", "user"), ("contexts", "")):
            for item in data.get(plural) or []:
                if not isinstance(item, dict) or not item.get("name"):
                    continue
                body = item.get(singular or "context") or {}
                if singular:
                    body = _absolute(body, _PATH_KEYS[singular], path.parent)
                merged[plural].setdefault(str(item["name"]), body)
        current = current or str(data.get("current-context") or "")
    if not found:
        raise CliError(f"cannot load the kubeconfig {paths}: none of its files exists")
    merged["current"] = current
    return merged


def load(paths: str, *, context: str | None, environ: Mapping[str, str] = os.environ) -> Target:
    """The ``context`` (else the current one) of the kubeconfig files ``paths``, with
    its credentials (an exec plugin runs now)."""
    config = _merged(paths)
    name = context or config["current"]
    if not name:
        raise CliError("the kubeconfig has no current context; pass --context")
    entry = config["contexts"].get(name)
    if entry is None:
        raise CliError(f'context "{name}" not found in the kubeconfig')
    cluster_name = str(entry.get("cluster") or "")
    cluster = config["clusters"].get(cluster_name)
    if not cluster or not cluster.get("server"):
        raise CliError(f'cluster "{cluster_name}" of context "{name}" has no server')
    if cluster.get("proxy-url"):
        raise CliError(f'cluster "{cluster_name}": proxy-url is not supported by landinggear')
    user_name = str(entry.get("user") or "")
    user = config["users"].get(user_name) or {}
    return Target(
        server=str(cluster["server"]),
        namespace=str(entry.get("namespace") or "") or None,
        user_name=user_name,
        ca_pem=_pem_text(cluster, "certificate-authority"),
        insecure=bool(cluster.get("insecure-skip-tls-verify")),
        server_name=cluster.get("tls-server-name") or None,
        credentials=_credentials(user_name, user, cluster, environ),
    )


def _file_or_data(entry: Mapping[str, Any], key: str) -> bytes | None:
    data = entry.get(f"{key}-data")
    if data:
        try:
            return base64.b64decode(str(data), validate=True)
        except ValueError as err:
            raise CliError(f"{key}-data in the kubeconfig is not base64") from err
    path = entry.get(key)
    if path:
        try:
            return Path(str(path)).read_bytes()
        except OSError as err:
            raise CliError(f"cannot read {key} {path}: {err.strerror}") from err
    return None


def _pem_text(entry: Mapping[str, Any], key: str) -> str | None:
    raw = _file_or_data(entry, key)
    return raw.decode() if raw is not None else None


def _credentials(
    name: str, user: Mapping[str, Any], cluster: Mapping[str, Any], environ: Mapping[str, str]
) -> Credentials:
    if user.get("auth-provider"):
        provider = (user["auth-provider"] or {}).get("name", "?")
        raise CliError(
            f'user "{name}": auth-provider {provider} is not supported; use an exec '
            "credential plugin (kubectl's own guide for your cloud names one)"
        )
    cert, key = _file_or_data(user, "client-certificate"), _file_or_data(user, "client-key")
    token = str(user.get("token") or "")
    if not token and user.get("tokenFile"):
        try:
            token = Path(str(user["tokenFile"])).read_text().strip()
        except OSError as err:
            raise CliError(f"cannot read tokenFile {user['tokenFile']}: {err.strerror}") from err
    if isinstance(user.get("exec"), dict) and not token and cert is None:
        return _exec(name, user["exec"], cluster, environ)
    if token:
        return Credentials(
            headers=(("Authorization", f"Bearer {token}"),), cert_pem=cert, key_pem=key
        )
    if user.get("username"):
        pair = f"{user['username']}:{user.get('password') or ''}".encode()
        basic = ("Authorization", f"Basic {base64.b64encode(pair).decode()}")
        return Credentials(headers=(basic,), cert_pem=cert, key_pem=key)
    return Credentials(cert_pem=cert, key_pem=key)


def _exec(
    name: str, spec: Mapping[str, Any], cluster: Mapping[str, Any], environ: Mapping[str, str]
) -> Credentials:
    """Run the exec credential plugin and read its ``ExecCredential``."""
    import shutil
    import subprocess

    api_version = str(spec.get("apiVersion") or "")
    if api_version not in _EXEC_API_VERSIONS:
        raise CliError(f'user "{name}": exec apiVersion {api_version!r} is not supported')
    command = str(spec.get("command") or "")
    if not command or shutil.which(command, path=environ.get("PATH")) is None:
        hint = spec.get("installHint") or f"{command!r} is not on PATH"
        raise CliError(f'user "{name}": the exec credential plugin cannot run: {hint}')
    request: dict[str, Any] = {"interactive": False}
    if spec.get("provideClusterInfo"):
        request["cluster"] = {
            "server": cluster.get("server"),
            "certificate-authority-data": cluster.get("certificate-authority-data"),
            "insecure-skip-tls-verify": bool(cluster.get("insecure-skip-tls-verify")),
        }
    info = {"apiVersion": api_version, "kind": "ExecCredential", "spec": request}
    env = dict(environ)
    env.update({str(e["name"]): str(e["value"]) for e in spec.get("env") or [] if "name" in e})
    env["KUBERNETES_EXEC_INFO"] = json.dumps(info)
    args = [command, *(str(a) for a in spec.get("args") or [])]
    try:
        done = subprocess.run(  # noqa: S603 - the kubeconfig's own plugin, as kubectl runs it
            args, env=env, capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        raise CliError(f'user "{name}": the exec credential plugin failed: {err}') from err
    if done.returncode != 0:
        why = done.stderr.strip() or f"exit code {done.returncode}"
        raise CliError(f'user "{name}": the exec credential plugin failed: {why}')
    try:
        status = json.loads(done.stdout)["status"]
    except (ValueError, KeyError, TypeError) as err:
        raise CliError(f'user "{name}": the exec credential plugin answered no status') from err
    if status.get("token"):
        return Credentials(headers=(("Authorization", f"Bearer {status['token']}"),))
    if status.get("clientCertificateData") and status.get("clientKeyData"):
        return Credentials(
            cert_pem=str(status["clientCertificateData"]).encode(),
            key_pem=str(status["clientKeyData"]).encode(),
        )
    raise CliError(f'user "{name}": the exec credential plugin answered no token nor certificate')


def tls_context(target: Target) -> ssl.SSLContext:
    """TLS as the kubeconfig says: its CA only (else the system's), the client certificate."""
    context = ssl.create_default_context(cadata=target.ca_pem) if target.ca_pem else None
    context = context or ssl.create_default_context()
    if target.insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    creds = target.credentials
    if creds.cert_pem is not None:
        if creds.key_pem is None:
            raise CliError(f'user "{target.user_name}": a client certificate without its key')
        with _pem_files(creds.cert_pem, creds.key_pem) as (cert, key):
            try:
                context.load_cert_chain(cert, key)
            except ssl.SSLError as err:
                raise CliError(f'user "{target.user_name}": unusable client certificate') from err
    return context


@contextmanager
def _pem_files(cert: bytes, key: bytes) -> Iterator[tuple[str, str]]:
    """``load_cert_chain`` reads files only: on Linux, anonymous in-memory files that no
    other process can open; elsewhere, a private directory removed at once."""
    if hasattr(os, "memfd_create") and os.path.isdir("/proc/self/fd"):
        descriptors = [os.memfd_create(name) for name in ("cert.pem", "key.pem")]
        try:
            for descriptor, content in zip(descriptors, (cert, key), strict=True):
                os.write(descriptor, content)
            yield (f"/proc/self/fd/{descriptors[0]}", f"/proc/self/fd/{descriptors[1]}")
        finally:
            for descriptor in descriptors:
                os.close(descriptor)
        return
    import tempfile

    with tempfile.TemporaryDirectory(prefix="landinggear-") as directory:
        paths = (os.path.join(directory, "cert.pem"), os.path.join(directory, "key.pem"))
        for path, content in zip(paths, (cert, key), strict=True):
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "wb") as out:
                out.write(content)
        yield paths
