"""The thin I/O layer around the pure core: observe the world, apply the decision.

``observe`` turns cached API objects (plain dicts) into the core's views,
``manifests`` builds the objects and patches we send, ``actuator`` sends them,
and ``reconciler`` runs one reconcile of one Rollout key end to end.
"""
