"""The harness packages' public surfaces are exactly what their ``__all__`` lists."""

from __future__ import annotations

import pkgutil
from types import ModuleType

import pytest

import e2e.dataplane
import e2e.dataplane.netload
import e2e.demoapp
import e2e.podagent
import e2e.prometheus


@pytest.mark.parametrize(
    "package",
    [e2e.dataplane, e2e.dataplane.netload, e2e.demoapp, e2e.podagent, e2e.prometheus],
)
def test_everything_in_all_is_importable_and_nothing_else_is_public(package: ModuleType) -> None:
    for name in package.__all__:
        assert getattr(package, name) is not None
    # a submodule is an attribute of its package once anything has imported it
    submodules = {module.name for module in pkgutil.iter_modules(package.__path__)}
    public = {name for name in vars(package) if not name.startswith("_")} - submodules
    assert public == set(package.__all__)
