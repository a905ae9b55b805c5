"""The pure decision core: what a Rollout should do next.

``decide(rollout, world, now) -> Decision``. Nothing in this package performs
I/O, reads the clock, or imports ``kubernetes`` or ``httpx`` (an import-linter
contract keeps it so): the observed world and the time come in as arguments,
actions and the new status go out as values, and the I/O layer applies them.
"""
