"""Feature-flag providers: the I/O edge where the kill switch turns flags off and back on.

The pure core decides *which* flag should be in *which* state
(:mod:`controller.core.flags`) and emits ``SwitchFlagOff`` / ``RestoreFlag``
after the workload's actions; :class:`FlagSwitches` hands each to the
:class:`FlagProvider` of the flag's kind and turns the answer (or the error)
into a :class:`~controller.core.actions.FlagResult`, which the reconciler folds
back into the status before writing it. A provider is synchronous and bounded:
each of its requests has a timeout, so a provider that hangs costs one
reconcile that much time and comes back as an error.

Providers are idempotent: switching off a flag that this Rollout already holds
off, or restoring one it does not hold, changes nothing and succeeds.
Providers: ``openfeature`` (``FeatureFlag`` objects through the Kubernetes API),
``unleash`` (admin API, per environment), ``launchdarkly`` (semantic patches)
— each with an exact, reference-counted restore recorded on the flag itself —
and ``webhook`` (a signed POST; the receiver keeps its own records). A kind
with no provider configured fails with :class:`NotImplementedProvider`'s
message.

Exceptions::

    FlagError                    base: the flag could not be switched; str() says why
    +-- NotImplementedProvider   the flag's kind has no provider in this version
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from controller.api.flags import FeatureFlag, FlagState
from controller.core.actions import FlagAction, FlagResult, SwitchFlagOff

__all__ = [
    "FlagError",
    "FlagProvider",
    "FlagSwitches",
    "FlagTarget",
    "NotImplementedProvider",
]


class FlagError(Exception):
    """A flag could not be switched; ``str()`` says why (never a credential)."""


class NotImplementedProvider(FlagError):
    """No provider of this kind in this version of the controller."""


@dataclass(frozen=True, kw_only=True)
class FlagTarget:
    """Which flag, for which Rollout (the holder, in providers that count holders)."""

    namespace: str
    rollout: str
    flag: FeatureFlag


class FlagProvider(Protocol):
    """Switches flags of one kind off and back on. Implementations are idempotent."""

    kind: str
    """The provider's key in ``spec.featureFlags[]`` (``openFeature`` …)."""

    def switch_off(self, target: FlagTarget, *, reason: str) -> str:
        """Switch the flag off; return what it was before (text the provider can read
        back), the first holder's record if others hold it off already."""

    def restore(self, target: FlagTarget, *, previous: str) -> None:
        """Release this Rollout's hold; put the flag back as it was once nobody holds it.
        ``previous`` is what :meth:`switch_off` returned, as the status kept it."""


class FlagSwitches:
    """Hands flag actions to the provider of each flag's kind; never raises."""

    def __init__(
        self,
        providers: Iterable[FlagProvider],
        *,
        on_error: Callable[[str, str], None] | None = None,
    ) -> None:
        self.providers = {provider.kind: provider for provider in providers}
        self.on_error = on_error
        """Told ``(provider, kind)`` of every failed switch (metrics): kind is
        ``not_implemented`` or ``failed``."""

    def apply(self, *, namespace: str, rollout: str, action: FlagAction) -> FlagResult:
        flag = action.flag
        off = isinstance(action, SwitchFlagOff)
        state = FlagState.OFF if off else FlagState.RESTORED
        target = FlagTarget(namespace=namespace, rollout=rollout, flag=flag)
        try:
            provider = self.providers.get(flag.provider)
            if provider is None:
                raise NotImplementedProvider(
                    f"{flag.provider} flags are not implemented in this version of "
                    f"Landing Gear (only {', '.join(sorted(self.providers)) or 'none'})"
                )
            if isinstance(action, SwitchFlagOff):
                previous = provider.switch_off(target, reason=action.reason)
                return FlagResult(flag=flag.name, state=state, previous=previous)
            provider.restore(target, previous=action.previous)
            return FlagResult(flag=flag.name, state=state)
        except FlagError as err:
            if self.on_error is not None:
                kind = "not_implemented" if isinstance(err, NotImplementedProvider) else "failed"
                self.on_error(flag.provider, kind)
            return FlagResult(flag=flag.name, state=state, error=str(err) or type(err).__name__)
