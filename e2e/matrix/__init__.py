"""A real Matrix homeserver for the chat-ops tests: Synapse with SQLite on loopback
(installed from PyPI into its own virtualenv), and a ``matrix-nio`` client that plays
the on-call engineer."""

from e2e.matrix.install import VERSION, ensure_installed
from e2e.matrix.server import Account, SynapseError, SynapseServer

__all__ = ["VERSION", "Account", "SynapseError", "SynapseServer", "ensure_installed"]
