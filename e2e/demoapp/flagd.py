"""A feature flag evaluated by the OpenFeature Python SDK with flagd's in-process resolver.

:class:`FlagdSource` is what an app on the OpenFeature Operator runs: the
``openfeature-sdk`` client, with ``openfeature-provider-flagd`` as its provider in
in-process mode, so flags are evaluated inside this process by flagd's own rules
engine (``FlagdCore``: states, variants, ``defaultVariant``, JSON-logic
``targeting``, ``$evaluators``) from a flagd JSON file, with no flagd daemon.

How the file is watched (provider 0.6.1): asking for ``ResolverType.IN_PROCESS``
with an ``offline_flag_source_path`` selects its ``FILE`` mode, still the
``InProcessResolver``, fed by a ``FileWatcher`` thread that sleeps
``deadline_ms`` between looks at the file's mtime and reloads the whole file
when the mtime grew. (``FLAGD_OFFLINE_POLL_MS`` is parsed into the config but
this watcher does not read it; the default ``deadline_ms`` is 500.) So
``poll_ms`` is passed as ``deadline_ms``: 100 ms by default, a change is seen
within about 0.1 s. Write the file by replacing it (a temporary file renamed
over it, as :func:`e2e.dataplane.flagsync.write_flagd_file` does) so the
watcher never reads half a file; a file that fails to parse leaves the last
good flags in force.

``is_on()`` is the SDK's ``get_boolean_value(flag, False)``: a flag missing from
the file, ``state: DISABLED`` (which flagd treats as missing), an error or a
non-boolean variant all read as off.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from openfeature import api
from openfeature.contrib.provider.flagd import FlagdProvider
from openfeature.contrib.provider.flagd.config import ResolverType
from openfeature.evaluation_context import EvaluationContext
from openfeature.flag_evaluation import FlagEvaluationDetails
from openfeature.provider.no_op_provider import NoOpProvider

__all__ = ["FlagdSource"]

_domains = itertools.count(1)


class FlagdSource:
    """``is_on()`` from the OpenFeature SDK and flagd's in-process resolver reading ``path``.

    Each source binds its own provider to its own OpenFeature domain, so several
    can live in one process (tests) without sharing the global default provider.
    ``context`` is the evaluation context's attributes, for ``targeting`` rules
    (``{"var": "revision"}`` and the like); ``targeting_key`` its targeting key.
    Raises ``openfeature.exception.ProviderNotReadyError`` when the file cannot
    be read at start.
    """

    def __init__(
        self,
        *,
        path: Path,
        flag: str,
        context: Mapping[str, Any] | None = None,
        targeting_key: str | None = None,
        poll_ms: int = 100,
    ) -> None:
        self.flag = flag
        self.path = path
        self.domain = f"landinggear-flagd-{next(_domains)}-{flag}"
        self.context = EvaluationContext(
            targeting_key=targeting_key, attributes=dict(context or {})
        )
        self.provider = FlagdProvider(
            resolver_type=ResolverType.IN_PROCESS,
            offline_flag_source_path=str(path),
            deadline_ms=poll_ms,  # the file watcher's sleep between mtime checks
        )
        api.set_provider_and_wait(self.provider, domain=self.domain)
        self.client = api.get_client(domain=self.domain)

    def details(self) -> FlagEvaluationDetails[bool]:
        """The SDK's full answer: value, variant, reason (``STATIC``, ``TARGETING_MATCH``,
        ``DISABLED``, ``ERROR``…) and error code."""
        return self.client.get_boolean_details(self.flag, False, self.context)

    def is_on(self) -> bool:
        return self.client.get_boolean_value(self.flag, False, self.context) is True

    def close(self) -> None:
        """Unbind the provider from its domain and stop its file watcher."""
        api.set_provider(NoOpProvider(), domain=self.domain)
        self.provider.shutdown()
