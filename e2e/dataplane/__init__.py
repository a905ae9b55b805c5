"""The e2e data plane: demo apps for each revision's pods, scraped by Prometheus, under traffic.

Pods on the local control plane are kwok fakes that run no containers, so this
package plays their part: ``DataPlane`` runs one ``e2e.demoapp`` process per
revision with available replicas and keeps Prometheus' file_sd targets in sync;
``TrafficGenerator`` sends requests split by Ready pods, as one Service over
stable and canary pods would; ``FlagSpecSync`` keeps a flagd file equal to an
OpenFeature ``FeatureFlag``'s ``flagSpec``, for apps that evaluate flags with
flagd's in-process resolver. ``python -m e2e.dataplane`` runs both.
Everything listens and sends on loopback only.
"""

from e2e.dataplane.apps import FlagServer
from e2e.dataplane.desired import Behaviour, DesiredRevision, RevisionKey
from e2e.dataplane.flagsync import FlagSpecSync, flagd_document, write_flagd_file
from e2e.dataplane.plane import DataPlane, RunningRevision, TargetSink
from e2e.dataplane.traffic import RevisionCounts, Route, TrafficGenerator, choose_route

__all__ = [
    "Behaviour",
    "DataPlane",
    "DesiredRevision",
    "FlagServer",
    "FlagSpecSync",
    "RevisionCounts",
    "RevisionKey",
    "Route",
    "RunningRevision",
    "TargetSink",
    "TrafficGenerator",
    "choose_route",
    "flagd_document",
    "write_flagd_file",
]
