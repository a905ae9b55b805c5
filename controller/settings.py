"""Controller settings: ``LANDINGGEAR_*`` environment variables, overridden by flags."""

from __future__ import annotations

import re
from typing import Annotated, Literal, Self, get_args

from pydantic import BeforeValidator, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

LogLevel = Annotated[
    Literal["debug", "info", "warning", "error"],
    BeforeValidator(lambda value: value.lower() if isinstance(value, str) else value),
]
"""A log level as ``--log-level`` and ``LANDINGGEAR_*LOG_LEVEL`` take it, in any case."""

LOG_LEVELS: tuple[str, ...] = get_args(get_args(LogLevel)[0])

_NAMESPACE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


class Settings(BaseSettings):
    """How ``landinggear run`` behaves. Every field is ``LANDINGGEAR_<NAME>`` in the environment."""

    model_config = SettingsConfigDict(env_prefix="LANDINGGEAR_", frozen=True)

    kubeconfig: str | None = Field(
        default=None, description="Kubeconfig path; default: in-cluster, then ~/.kube/config."
    )
    context: str | None = Field(default=None, description="Kubeconfig context to use.")
    namespace: str | None = Field(
        default=None, description="Watch only this namespace; default: all namespaces."
    )
    workers: int = Field(default=16, ge=1, le=64, description="Concurrent reconciles.")
    qps: float = Field(default=100.0, gt=0, description="Client-side API requests per second.")
    burst: int = Field(default=300, ge=1, description="Client-side burst above qps.")
    leader_elect: bool = Field(default=True, description="Run only while holding the Lease.")
    lease_name: str = Field(default="landinggear-controller", description="Lease object name.")
    lease_namespace: str | None = Field(
        default=None,
        description="Namespace of the leader-election Lease; default: the pod's own "
        "namespace, else the kubeconfig context's namespace, else default.",
    )
    shards: int = Field(
        default=1,
        ge=1,
        le=64,
        description="Split the Rollouts into this many shards, each owned through its own "
        "Lease (<lease-name>-<i>-of-<K>), so every replica works; 1: one leader, one Lease "
        "named lease-name (README: Sharding).",
    )
    lease_duration: float = Field(default=15.0, gt=0, description="Lease duration, seconds.")
    renew_deadline: float = Field(default=10.0, gt=0, description="Give up leading after this.")
    retry_period: float = Field(default=2.0, gt=0, description="Seconds between lease attempts.")
    fence_margin: float = Field(
        default=2.0,
        ge=0,
        description="A leader stops writing this many seconds before its renew deadline, so "
        "a write in flight lands before a standby can take over.",
    )
    shutdown_timeout: float = Field(
        default=20.0,
        gt=0,
        description="Seconds from SIGTERM to exit at most, shared by the reconciles in flight, "
        "giving back the Lease(s) and sending queued Events; keep it below the pod's "
        "terminationGracePeriodSeconds (30 in the shipped Deployment).",
    )
    metrics_address: str = Field(
        default="127.0.0.1:8080", description="host:port for /metrics, /healthz and /readyz."
    )
    stuck_after: float = Field(
        default=300.0,
        gt=0,
        description="Seconds after which a reconcile still running is stuck (every request "
        "it makes is bounded far below the default): /healthz fails so the kubelet restarts "
        "the process.",
    )
    per_rollout_metrics: bool = Field(
        default=True,
        description="Export the series labelled by Rollout (phase, weight, step); turn off "
        "when the number of Rollouts would make too many series.",
    )
    identity: str | None = Field(
        default=None, description="Leader-election identity; default: hostname and pid."
    )
    watch_timeout: int = Field(
        default=300, ge=10, description="Server-side timeout of each watch request, seconds."
    )
    log_level: LogLevel = Field(default="info", description="debug, info, warning or error.")
    prometheus_address: str | None = Field(
        default=None, description="Default Prometheus for analyses that name none."
    )
    prometheus_bearer_token_file: str | None = Field(
        default=None,
        description="File with a bearer token for the default Prometheus, read per request.",
    )
    prometheus_username: str | None = Field(
        default=None, description="Basic-auth user for the default Prometheus."
    )
    prometheus_password_file: str | None = Field(
        default=None, description="File with the basic-auth password, read per request."
    )
    prometheus_ca_file: str | None = Field(
        default=None, description="PEM CA bundle to verify the default Prometheus' certificate."
    )
    prometheus_timeout: float = Field(
        default=10.0, gt=0, le=300, description="Seconds one Prometheus query may take."
    )
    prometheus_endpoints: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="URL prefixes a Rollout may name as its Prometheus address, "
        "comma-separated; any other address is refused before a request is made. The "
        "default --prometheus-address is always allowed. Default: none.",
    )
    threshold_namespaces: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Namespaces whose Rollouts may run threshold rules (free-form PromQL) on "
        "the default Prometheus with its credentials, comma-separated; * allows all. "
        "Default: none (the builtin comparisons always run).",
    )

    flag_endpoints: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="URL prefixes the controller may send feature-flag requests to (Unleash "
        "servers, webhooks), comma-separated; a flag elsewhere is refused. Default: none.",
    )
    launchdarkly_address: str = Field(
        default="https://app.launchdarkly.com",
        description="Base URL of LaunchDarkly's REST API (the admin's choice, always allowed).",
    )
    flag_timeout: float = Field(
        default=10.0, gt=0, le=120, description="Seconds one feature-flag request may take."
    )

    @field_validator(
        "flag_endpoints", "prometheus_endpoints", "threshold_namespaces", mode="before"
    )
    @classmethod
    def _split_endpoints(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("flag_endpoints")
    @classmethod
    def _valid_endpoints(cls, value: list[str]) -> list[str]:
        from controller.flags.endpoints import EndpointPolicy

        EndpointPolicy(value)  # raises ValueError naming a bad prefix
        return value

    @field_validator("prometheus_endpoints")
    @classmethod
    def _valid_prometheus_endpoints(cls, value: list[str]) -> list[str]:
        from controller.providers.access import prometheus_endpoints

        prometheus_endpoints(value, default=None)  # raises ValueError naming a bad prefix
        return value

    @field_validator("threshold_namespaces")
    @classmethod
    def _valid_namespaces(cls, value: list[str]) -> list[str]:
        for name in value:
            if name != "*" and not _NAMESPACE.match(name):
                raise ValueError(f"{name!r} is not a namespace name (or *)")
        return value

    @model_validator(mode="after")
    def _default_prometheus_allowed(self) -> Self:
        from controller.providers.access import prometheus_endpoints

        # the default address is on the allow-list: it must be one a prefix can be
        prometheus_endpoints((), default=self.prometheus_address)
        return self

    @model_validator(mode="after")
    def _timings_nest(self) -> Self:
        if not 0 < self.retry_period < self.renew_deadline < self.lease_duration:
            raise ValueError(
                "leader election needs retry-period < renew-deadline < lease-duration "
                f"(got {self.retry_period} < {self.renew_deadline} < {self.lease_duration})"
            )
        if self.shards > 1 and not self.leader_elect:
            raise ValueError("shards above 1 need leader election: each shard is a Lease")
        if self.fence_margin >= self.renew_deadline:
            raise ValueError(
                f"fence-margin ({self.fence_margin}) must be below renew-deadline "
                f"({self.renew_deadline}), or a leader could never write"
            )
        return self
