"""Helpers for tests against the real Unleash server (``e2e.unleash``): features,
the token Secret, the ``spec.featureFlags`` entry, and the real SDK client an app runs."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from UnleashClient import UnleashClient  # type: ignore[attr-defined]

from e2e.unleash import UnleashServer
from tests.support.scenario import Harness

TOKEN_SECRET = "unleash-token"


def create_feature(server: UnleashServer, name: str, *, on: bool = True) -> None:
    """A new feature in the default project, on in the server's environment if ``on``."""
    with server.admin() as admin:
        admin.post("/projects/default/features", json={"name": name}).raise_for_status()
        if on:
            path = f"/projects/default/features/{name}/environments/{server.environment}/on"
            admin.post(path).raise_for_status()


def is_enabled(server: UnleashServer, name: str) -> bool:
    """Whether the feature is on in the server's environment, as the admin API says."""
    with server.admin() as admin:
        body = admin.get(f"/projects/default/features/{name}").raise_for_status().json()
    return bool(next(e["enabled"] for e in body["environments"] if e["name"] == server.environment))


def tags(server: UnleashServer, name: str) -> list[str]:
    with server.admin() as admin:
        body = admin.get(f"/features/{name}/tags").raise_for_status().json()
    return sorted(t["value"] for t in body["tags"])


def token_secret(harness: Harness, token: str) -> None:
    """The Secret the Rollouts' ``tokenSecretRef`` names, holding ``token``, and the
    namespace owner's grant for the controller to read it."""
    harness.grant_secret(TOKEN_SECRET)
    harness.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": TOKEN_SECRET},
            "data": {"token": base64.b64encode(token.encode()).decode()},
        }
    )


def unleash_flag(server: UnleashServer, feature: str, **extra: Any) -> dict[str, Any]:
    """The ``spec.featureFlags`` entry ``new-checkout`` for ``feature``."""
    return {
        "name": "new-checkout",
        "unleash": {
            "address": server.url,
            "environment": server.environment,
            "feature": feature,
            "tokenSecretRef": {"name": TOKEN_SECRET, "key": "token"},
        },
        **extra,
    }


def sdk_client(server: UnleashServer, cache_dir: Path) -> UnleashClient:
    """A real Unleash SDK client, as an app runs it (polling every second), started."""
    sdk = UnleashClient(
        url=f"{server.url}/api",
        app_name="checkout",
        environment=server.environment,
        custom_headers={"Authorization": server.client_token},
        refresh_interval=1,
        disable_metrics=True,
        disable_registration=True,
        cache_directory=str(cache_dir),
    )
    sdk.initialize_client()
    return sdk
