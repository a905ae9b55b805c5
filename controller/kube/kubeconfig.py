"""Where the controller connects, and which namespace it calls its own.

:func:`api_configuration` reads the kubeconfig, else the in-cluster service
account. :func:`home_namespace` answers like client-go's ``Namespace()``: the
pod's own namespace (its service account's ``namespace`` file), else the
namespace of the kubeconfig's context, else ``default``.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from kubernetes import client, config

__all__ = ["SERVICE_ACCOUNT_NAMESPACE", "api_configuration", "home_namespace"]

_UNREADABLE = (config.ConfigException, yaml.YAMLError, TypeError, AttributeError, ValueError)
"""What the client's kubeconfig loader raises for a file that is not a usable kubeconfig."""

SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
"""Where the kubelet mounts the pod's namespace, next to its service account token."""


def api_configuration(*, kubeconfig: str | None, context: str | None) -> client.Configuration:
    """The client configuration from the kubeconfig, else (none given) the in-cluster config.

    Raises ``ConfigException`` with a one-line message when neither loads. A kubeconfig
    named explicitly is never replaced by the in-cluster config: it is the one to fix.
    """
    configuration = client.Configuration()
    if kubeconfig is not None and not Path(kubeconfig).is_file():
        missing = "not a file" if Path(kubeconfig).exists() else "no such file"
        raise config.ConfigException(f"kubeconfig {kubeconfig}: {missing}")
    try:
        config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=kubeconfig, context=context, client_configuration=configuration
        )
    except _UNREADABLE as err:
        why = err if isinstance(err, config.ConfigException) else f"not a kubeconfig ({err})"
        if kubeconfig is not None:
            raise config.ConfigException(f"cannot load the kubeconfig {kubeconfig}: {why}") from err
        try:
            config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        except config.ConfigException as outside:
            raise config.ConfigException(
                f"no usable kubeconfig ({why}) and not in a cluster ({outside}); pass --kubeconfig"
            ) from outside
    return configuration


def home_namespace(
    *,
    kubeconfig: str | None,
    context: str | None,
    namespace_file: Path = SERVICE_ACCOUNT_NAMESPACE,
) -> str:
    """The pod's namespace, else the kubeconfig context's namespace, else ``default``."""
    try:
        own = namespace_file.read_text().strip()
    except OSError:
        own = ""
    return own or _context_namespace(kubeconfig, context) or "default"


def _context_namespace(kubeconfig: str | None, context: str | None) -> str | None:
    try:
        contexts, current = config.list_kube_config_contexts(kubeconfig)  # type: ignore[no-untyped-call]
    except (config.ConfigException, OSError):
        return None
    wanted = context or (current or {}).get("name")
    chosen = next((c for c in contexts or [] if c.get("name") == wanted), None)
    namespace = ((chosen or {}).get("context") or {}).get("namespace")
    return str(namespace) if namespace else None
