"""Which cluster, user and namespace a command talks to, resolved like kubectl does.

``--kubeconfig`` wins over ``KUBECONFIG`` (which may list several files), which
wins over ``~/.kube/config``. ``--context`` picks a context, else the current
one; ``--namespace`` wins over the context's namespace, else ``default``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from kubernetes import config
from kubernetes.client import ApiClient
from kubernetes.config.config_exception import ConfigException

from controller.cli.errors import CliError

__all__ = ["DEFAULT_KUBECONFIG", "Session", "connect", "context_entry", "kubeconfig_path"]

DEFAULT_KUBECONFIG = "~/.kube/config"


@dataclass(frozen=True, kw_only=True)
class Session:
    """A client for one context, the namespace commands act in, and the kubeconfig user."""

    api: ApiClient
    namespace: str
    kubeconfig_user: str


def kubeconfig_path(flag: str | None, environ: Mapping[str, str]) -> str:
    """The kubeconfig file(s) to read: the flag, else ``KUBECONFIG``, else the default."""
    return flag or environ.get("KUBECONFIG") or DEFAULT_KUBECONFIG


def context_entry(
    contexts: list[dict[str, Any]], current: dict[str, Any] | None, wanted: str | None
) -> dict[str, Any]:
    """The ``context`` mapping of the wanted context, else of the current one."""
    if wanted is None:
        if not current:
            raise CliError("the kubeconfig has no current context; pass --context")
        return dict(current.get("context") or {})
    for entry in contexts:
        if entry.get("name") == wanted:
            return dict(entry.get("context") or {})
    raise CliError(f'context "{wanted}" not found in the kubeconfig')


def connect(*, kubeconfig: str | None, context: str | None, namespace: str | None) -> Session:
    """Load the kubeconfig and build a client for the chosen context."""
    path = kubeconfig_path(kubeconfig, os.environ)
    try:
        contexts, current = config.list_kube_config_contexts(config_file=path)  # type: ignore[no-untyped-call]
        entry = context_entry(contexts or [], current, context)
        api = cast(
            ApiClient,
            config.new_client_from_config(config_file=path, context=context),  # type: ignore[no-untyped-call]
        )
    except ConfigException as err:
        raise CliError(f"cannot load the kubeconfig {path}: {err}") from err
    return Session(
        api=api,
        namespace=namespace or str(entry.get("namespace") or "") or "default",
        kubeconfig_user=str(entry.get("user") or ""),
    )
