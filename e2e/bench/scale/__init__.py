"""``python -m e2e.bench.scale``: one controller process against N Rollouts, measured.

``figures`` holds the pure parts (percentiles, /proc readings, the audit log's
writes, the table); ``run`` drives the local control plane and the controller;
``__main__`` is the command line.
"""
