"""Each provider module's ``__all__`` is exactly its public surface."""

from __future__ import annotations

import inspect
from types import ModuleType

import pytest

import controller.providers
from controller.providers import counters, prometheus, templates


def public_names(module: ModuleType) -> set[str]:
    return {
        name
        for name, value in vars(module).items()
        if not name.startswith("_")
        and not inspect.ismodule(value)
        and getattr(value, "__module__", module.__name__) == module.__name__
        and name not in {"annotations", "log"}
        and not name.isupper()
    }


@pytest.mark.parametrize("module", [controller.providers, templates, counters])
def test_all_lists_the_public_names(module: ModuleType) -> None:
    declared = {name for name in module.__all__ if not name.isupper()}
    assert declared == public_names(module)


def test_prometheus_module_exports_the_provider_and_its_config() -> None:
    assert set(prometheus.__all__) == {"PrometheusConfig", "PrometheusProvider"}
