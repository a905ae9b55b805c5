"""The chat side of ``python -m e2e.demo.chat``: who is who, and the bot process.

:func:`grant` applies, in the demo's namespace, the identities ConfigMap (a Matrix
user → a Kubernetes user and groups), a Role letting the group ``payments-oncall``
get and patch Rollouts (its RoleBinding), and the shipped chat-ops rights
(``manifests/chatops/rbac.yaml``) for a ServiceAccount of the namespace: its
ClusterRole and ClusterRoleBinding renamed ``landinggear-chatops-<namespace>`` (the
only cluster-wide objects the demo makes; :meth:`ChatBot.__exit__` deletes them),
and the identities Role. :class:`ChatBot` runs ``python -m controller chatops`` as
that ServiceAccount (a TokenRequest token in a kubeconfig of its own), Matrix only,
in its own process group, and stops it with SIGTERM.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml

from controller.chatops.identities import matrix_key
from e2e.demo.script import DemoFailed, Options, Shell
from e2e.demo.stack import ROOT, ProcessDied

__all__ = ["ACCOUNT", "IDENTITIES", "ONCALL", "ChatBot", "grant"]

ACCOUNT = "landinggear-chatops"
IDENTITIES = "landinggear-chatops-identities"
ONCALL = "payments-oncall"
RBAC = "rbac.authorization.k8s.io"


def _role_name(namespace: str) -> str:
    return f"landinggear-chatops-{namespace}"


def _objects(namespace: str, people: dict[str, str]) -> list[dict[str, Any]]:
    docs = list(yaml.safe_load_all((ROOT / "manifests/chatops/rbac.yaml").read_text()))
    cluster_role = next(d for d in docs if d["kind"] == "ClusterRole")
    role = next(d for d in docs if d["kind"] == "Role")
    bot = [{"kind": "ServiceAccount", "name": ACCOUNT, "namespace": namespace}]
    name = _role_name(namespace)
    data = {str(matrix_key(user_id)): identity for user_id, identity in people.items()}
    return [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": IDENTITIES},
         "data": data},
        {"apiVersion": f"{RBAC}/v1", "kind": "Role", "metadata": {"name": "rollout-operator"},
         "rules": [{"apiGroups": ["landinggear.dev"], "resources": ["rollouts"],
                    "verbs": ["get", "patch"]}]},
        {"apiVersion": f"{RBAC}/v1", "kind": "RoleBinding", "metadata": {"name": "oncall"},
         "roleRef": {"apiGroup": RBAC, "kind": "Role", "name": "rollout-operator"},
         "subjects": [{"apiGroup": RBAC, "kind": "Group", "name": ONCALL}]},
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": ACCOUNT}},
        {**cluster_role, "metadata": {"name": name}},
        {"apiVersion": f"{RBAC}/v1", "kind": "ClusterRoleBinding", "metadata": {"name": name},
         "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": name}, "subjects": bot},
        {**role, "metadata": {"name": IDENTITIES}},
        {"apiVersion": f"{RBAC}/v1", "kind": "RoleBinding", "metadata": {"name": IDENTITIES},
         "roleRef": {"apiGroup": RBAC, "kind": "Role", "name": IDENTITIES}, "subjects": bot},
    ]  # fmt: skip


def grant(sh: Shell, namespace: str, people: dict[str, str]) -> None:
    """The identities (``people``: Matrix user ID → ``{user: …, groups: […]}``), the
    on-call Role and the bot's shipped rights, applied in ``namespace``."""
    items = {"apiVersion": "v1", "kind": "List", "items": _objects(namespace, people)}
    sh.kubectl("apply", "-f", "-", stdin=json.dumps(items), echo=False)


class ChatBot:
    """``landinggear chatops`` reading one Matrix room, as the namespace's ServiceAccount."""

    def __init__(
        self,
        options: Options,
        *,
        homeserver: str,
        token: str,
        room: str,
        people: dict[str, str],
        log_dir: Path,
    ) -> None:
        """``people``: as for :func:`grant`, applied on entering."""
        self._o = options
        self._people = people
        self._homeserver = homeserver
        self._token = token
        self._room = room
        self._dir = log_dir
        self.log_file = log_dir / "chatops.log"
        self.pid: int | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    def _kubeconfig(self, sh: Shell) -> Path:
        """A kubeconfig authenticating as the ServiceAccount (a one-hour token)."""
        token = sh.kubectl("create", "token", ACCOUNT, "--duration=1h", echo=False).strip()
        admin = yaml.safe_load(Path(self._o.kubeconfig).read_text())
        context = next(c for c in admin["contexts"] if c["name"] == admin["current-context"])
        cluster = context["context"]["cluster"]
        config = {
            "apiVersion": "v1", "kind": "Config",
            "clusters": [c for c in admin["clusters"] if c["name"] == cluster],
            "users": [{"name": ACCOUNT, "user": {"token": token}}],
            "contexts": [{"name": ACCOUNT, "context": {"cluster": cluster, "user": ACCOUNT}}],
            "current-context": ACCOUNT,
        }  # fmt: skip
        path = self._dir / "chatops.kubeconfig"
        path.touch(mode=0o600)
        path.write_text(json.dumps(config))
        return path

    def __enter__(self) -> ChatBot:
        try:
            self._start()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _start(self) -> None:
        sh = Shell(self._o)
        grant(sh, self._o.namespace, self._people)
        kubeconfig = self._kubeconfig(sh)
        token_file = self._dir / "matrix-token"
        token_file.touch(mode=0o600)
        token_file.write_text(self._token)
        ns = self._o.namespace
        with self.log_file.open("wb") as out:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "controller", "chatops", f"--kubeconfig={kubeconfig}",
                 "--listen=127.0.0.1:0", f"--matrix-homeserver={self._homeserver}",
                 f"--matrix-token-file={token_file}", f"--matrix-room={self._room}",
                 f"--identities={ns}/{IDENTITIES}", "--identities-refresh=1",
                 f"--instance=chatops-{ns}"],
                cwd=ROOT, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                process_group=0,  # a Ctrl-C reaches the demo, which stops it with SIGTERM
            )  # fmt: skip
        self.pid = self._proc.pid
        self._until(lambda: b"Reading Matrix commands" in self.log_file.read_bytes(), 30)

    def _until(self, done: Callable[[], bool], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            self.check()
            if time.monotonic() > deadline:
                raise DemoFailed(f"the chat-ops bot did not start reading; see {self.log_file}")
            time.sleep(0.1)

    def check(self) -> None:
        """Raise ``ProcessDied`` if the bot exited."""
        if self._proc is not None and (code := self._proc.poll()) is not None:
            tail = self.log_file.read_text(errors="replace").splitlines()[-15:]
            raise ProcessDied(f"the chat-ops bot exited with {code}:\n" + "\n".join(tail))

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        name = _role_name(self._o.namespace)
        subprocess.run(
            [str(self._o.kubectl), f"--kubeconfig={self._o.kubeconfig}", "delete",
             "--ignore-not-found", f"clusterrolebinding/{name}", f"clusterrole/{name}"],
            capture_output=True, check=False, timeout=60,
        )  # fmt: skip
