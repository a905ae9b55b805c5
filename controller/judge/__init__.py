"""Judging a canary on metrics: pure statistics, no I/O (under the core's purity contract).

``sequential`` compares canary and stable bad-event counts with an always-valid
sequential test.
"""
