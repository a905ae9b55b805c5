"""End-to-end harness: a real local Kubernetes control plane and, later, demo apps.

Nothing in here is imported by the ``controller`` package; it is test and demo
infrastructure only.
"""
