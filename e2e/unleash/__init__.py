"""A real Unleash server for the feature-flag tests and the demo (PostgreSQL + npm's
``unleash-server``, both on loopback), and its pinned install."""

from e2e.unleash.install import VERSION, ensure_installed
from e2e.unleash.server import INSTALL_HINT, UnleashError, UnleashServer

__all__ = ["INSTALL_HINT", "VERSION", "UnleashError", "UnleashServer", "ensure_installed"]
