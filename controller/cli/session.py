"""Which cluster, user and namespace a command talks to, resolved like kubectl does.

``--kubeconfig`` wins over ``KUBECONFIG`` (which may list several files), which
wins over ``~/.kube/config``. ``--context`` picks a context, else the current
one; ``--namespace`` wins over the context's namespace, else ``default``.
``--as`` / ``--as-group`` impersonate (the API server checks that the kubeconfig's
user may), and ``--request-timeout`` bounds every request.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from controller.cli.errors import CliError

if TYPE_CHECKING:
    from controller.cli.transport import Transport

__all__ = [
    "DEFAULT_KUBECONFIG",
    "DEFAULT_TIMEOUT",
    "Session",
    "connect",
    "impersonation",
    "kubeconfig_path",
]

DEFAULT_KUBECONFIG = "~/.kube/config"
DEFAULT_TIMEOUT = 30.0
"""Seconds a request may take when ``--request-timeout`` is not given: never hang long."""


@dataclass(frozen=True, kw_only=True)
class Session:
    """A transport to one context's API server, the namespace commands act in, and the
    kubeconfig user."""

    api: Transport
    namespace: str
    kubeconfig_user: str


def kubeconfig_path(flag: str | None, environ: Mapping[str, str]) -> str:
    """The kubeconfig file(s) to read: the flag, else ``KUBECONFIG``, else the default."""
    return flag or environ.get("KUBECONFIG") or DEFAULT_KUBECONFIG


def impersonation(
    user: str | None, groups: Sequence[str], uid: str | None = None
) -> tuple[tuple[str, str], ...]:
    """The ``Impersonate-*`` headers of ``--as``, ``--as-group`` and ``--as-uid`` (groups
    and a UID need a user, as with kubectl)."""
    if groups and not user:
        raise CliError("--as-group needs --as (the user to impersonate)", code=2)
    if uid and not user:
        raise CliError("--as-uid needs --as (the user to impersonate)", code=2)
    if not user:
        return ()
    with_uid = (("Impersonate-Uid", uid),) if uid else ()
    return (("Impersonate-User", user), *(("Impersonate-Group", g) for g in groups), *with_uid)


def connect(
    *,
    kubeconfig: str | None,
    context: str | None,
    namespace: str | None,
    as_user: str | None = None,
    as_groups: Sequence[str] = (),
    as_uid: str | None = None,
    request_timeout: float | None = DEFAULT_TIMEOUT,
) -> Session:
    """Load the kubeconfig and build a transport for the chosen context.

    ``request_timeout``: seconds each request may take; None: no limit."""
    from controller.cli import kubeconfig as config
    from controller.cli.transport import HttpTransport

    headers = impersonation(as_user, as_groups, as_uid)
    target = config.load(kubeconfig_path(kubeconfig, os.environ), context=context)
    try:
        transport = HttpTransport(
            target.server,
            context=config.tls_context(target),
            headers=(*target.credentials.headers, *headers),
            server_name=target.server_name,
            timeout=request_timeout,
        )
    except ValueError as err:
        raise CliError(f"cannot use the kubeconfig: {err}") from err
    return Session(
        api=transport,
        namespace=namespace or target.namespace or "default",
        kubeconfig_user=target.user_name,
    )
