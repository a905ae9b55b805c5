"""Landing Gear: a Kubernetes canary-deployment and rollback controller.

The package layout, and what belongs where, is described in
``docs/architecture.md``.
"""

__version__ = "0.1.0"
