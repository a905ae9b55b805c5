"""The package's public surface is exactly what ``__all__`` lists."""

from __future__ import annotations

import controller.kube as kube


def test_everything_in_all_is_importable_and_nothing_else_is_public() -> None:
    for name in kube.__all__:
        assert getattr(kube, name) is not None
    public = {
        name
        for name in vars(kube)
        if not name.startswith("_")
        and name
        not in {
            "counting",
            "errors",
            "fencing",
            "informer",
            "kubeconfig",
            "leaderelection",
            "lease",
            "listwatch",
            "objects",
            "ratelimit",
            "resources",
            "store",
            "transport",
            "workqueue",
        }
    }
    assert public == set(kube.__all__)
