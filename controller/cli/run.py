"""``landinggear run``: the controller process. Flags override ``LANDINGGEAR_*`` settings.

Exit code 2 when the settings are invalid or no kubeconfig (nor in-cluster config) loads.
"""

from __future__ import annotations

import argparse
import contextlib
import faulthandler
import signal
import sys
from collections.abc import Callable
from typing import Any

LOG_LEVELS = ("debug", "info", "warning", "error")
"""``--log-level``'s choices, as :data:`controller.settings.LOG_LEVELS` (a test keeps them
equal): spelled here so that building the parser does not import pydantic."""

_FLAGS: dict[str, tuple[Callable[[str], Any], str]] = {
    "workers": (int, "concurrent reconciles"),
    "qps": (float, "client-side API requests per second"),
    "burst": (int, "client-side burst above --qps"),
    "lease_name": (str, "leader-election Lease name"),
    "lease_namespace": (str, "leader-election Lease namespace (default: the pod's own)"),
    "shards": (int, "split the Rollouts into K shards, one Lease each (default: 1)"),
    "metrics_address": (str, "host:port of /metrics, /healthz, /readyz (port 0: any)"),
    "identity": (str, "leader-election identity (default: hostname_pid)"),
    "lease_duration": (float, "seconds a standby waits on a silent Lease before taking it"),
    "renew_deadline": (float, "seconds the leader keeps leading without a renewal"),
    "retry_period": (float, "seconds between Lease attempts"),
    "fence_margin": (float, "seconds before the renew deadline at which writes stop"),
    "shutdown_timeout": (float, "seconds from SIGTERM to exit at most"),
    "log_level": (str.lower, "debug, info, warning or error"),
    "watch_timeout": (int, "server-side timeout of each watch, seconds"),
    "stuck_after": (float, "seconds after which a running reconcile fails /healthz"),
    "prometheus_address": (str, "default Prometheus URL for analyses that name none"),
    "prometheus_bearer_token_file": (str, "bearer token file for the default Prometheus"),
    "prometheus_username": (str, "basic-auth user for the default Prometheus"),
    "prometheus_password_file": (str, "basic-auth password file for the default Prometheus"),
    "prometheus_ca_file": (str, "CA bundle for the default Prometheus' certificate"),
    "prometheus_timeout": (float, "seconds one Prometheus query may take"),
    "launchdarkly_address": (str, "base URL of LaunchDarkly's REST API"),
    "flag_timeout": (float, "seconds one feature-flag request may take"),
}


_OTHER_FIELDS = (
    "flag_endpoints",
    "prometheus_endpoints",
    "threshold_namespaces",
    "leader_elect",
    "per_rollout_metrics",
    "kubeconfig",
    "context",
    "namespace",
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    for field, (kind, help_text) in _FLAGS.items():
        choices = LOG_LEVELS if field == "log_level" else None
        parser.add_argument(
            f"--{field.replace('_', '-')}", type=kind, choices=choices, help=help_text
        )
    parser.add_argument(
        "--flag-endpoint",
        dest="flag_endpoints",
        action="append",
        metavar="URL",
        help="URL prefix feature-flag requests may go to (repeat for more; default: none)",
    )
    parser.add_argument(
        "--prometheus-endpoint",
        dest="prometheus_endpoints",
        action="append",
        metavar="URL",
        help="URL prefix a Rollout's Prometheus address may be under (repeat for more; "
        "--prometheus-address is always allowed; default: no other)",
    )
    parser.add_argument(
        "--threshold-namespace",
        dest="threshold_namespaces",
        action="append",
        metavar="NAMESPACE",
        help="namespace whose threshold rules may run on the default Prometheus "
        "(repeat for more; * for all; default: none)",
    )
    parser.add_argument(
        "--leader-elect",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="reconcile only while holding the Lease (default: on)",
    )
    parser.add_argument(
        "--per-rollout-metrics",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="export the series labelled by Rollout: phase, weight, step (default: on)",
    )


def run(args: argparse.Namespace) -> int:
    """Build settings (environment, then flags) and run the controller until stopped."""
    import pydantic

    from controller.settings import Settings

    overrides = {
        field: getattr(args, field)
        for field in (*_FLAGS, *_OTHER_FIELDS)
        if getattr(args, field, None) is not None
    }
    try:
        settings = Settings(**overrides)
    except pydantic.ValidationError as err:
        print(f"error: invalid settings:\n{err}", file=sys.stderr)
        return 2
    from kubernetes.config import ConfigException

    from controller import arenas, logs
    from controller.manager import Manager

    logs.configure(settings.log_level)
    arenas.cap()  # before any thread starts: one given an arena keeps it
    # ``kill -USR1 <pid>``: every thread's stack to stderr, for a process that hangs
    # (not when stderr is no file, as under a test's capture).
    with contextlib.suppress(AttributeError, OSError, ValueError):
        faulthandler.register(signal.SIGUSR1, all_threads=True)
    try:
        manager = Manager(settings)
    except ConfigException as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return manager.run()
