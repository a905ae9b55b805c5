"""The pure decision core: what a Rollout should do next.

``decide(rollout, world, now, measurements) -> Decision``. Nothing in this
package performs I/O, reads the clock, or imports ``kubernetes`` or ``httpx``
(an import-linter contract keeps it so): the observed world, the metric looks
and the time come in as arguments; the new status, actions, Events and the
next wake-up go out as values, and the I/O layer applies them. Inside, plain
functions thread a frozen draft of the decision (:mod:`.draft`); questions
answer with typed values (:mod:`.holds`, :mod:`.gates`); the traffic a step
wants goes through the traffic plan port (:mod:`.traffic`).
"""
