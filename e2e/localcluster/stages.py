"""kwok's Stages: pods are Ready at once, except demo-app pods, Ready once served.

kwok plays the kubelet. Its upstream default Stages (:data:`build.KWOK_STAGES`)
make every pod Running *and* Ready as soon as it is scheduled. For a pod whose
template asks for a demo app (annotation :data:`DEMO_APP_ANNOTATION` ``"true"``)
that would put an endpoint in Services before anything listens on the pod IP, so
such pods follow their own Stages instead:

``demo-app-pod-running``
    Pending → Running with a pod IP, Ready and ContainersReady ``False``. The pod
    agent (:mod:`e2e.podagent`) sees the IP and starts the pod's app on it.
``demo-app-pod-ready``
    Running, not Ready, annotated :data:`SERVING_ANNOTATION` ``"true"`` (which the
    agent writes once the app answers on the pod IP) → Ready.
``demo-app-pod-unready``
    Ready but no longer annotated serving (the agent removes it when the app
    died) → not Ready, until the restarted app answers and the agent annotates
    again.

Every other pod keeps the upstream behaviour: the upstream ``pod-ready`` Stage is
used unchanged but for one more selector expression that leaves demo-app pods out.
Deletion and Job completion are upstream's.
"""

from __future__ import annotations

import json
from typing import Any, Final

import yaml

from e2e.localcluster import build, versions

__all__ = [
    "DEMO_APP_ANNOTATION",
    "POD_PLAY_STAGE_PARALLELISM",
    "SERVING_ANNOTATION",
    "configuration",
    "kwok_config",
    "stages",
]

DEMO_APP_ANNOTATION: Final = "landinggear.dev/demo-app"
"""On a pod (template): ``"true"`` asks the pod agent for a demo app on the pod IP."""

SERVING_ANNOTATION: Final = "landinggear.dev/serving"
"""Written by the pod agent: ``"true"`` while the pod's app answers on the pod IP."""

_POD_READY = "kustomize/stage/pod/fast/pod-ready.yaml"

_NOT_DELETED = {"key": ".metadata.deletionTimestamp", "operator": "DoesNotExist"}
_DEMO_APP = {
    "key": f'.metadata.annotations["{DEMO_APP_ANNOTATION}"]',
    "operator": "In",
    "values": ["true"],
}
_NOT_DEMO_APP = {**_DEMO_APP, "operator": "NotIn"}
_SERVING = {
    "key": f'.metadata.annotations["{SERVING_ANNOTATION}"]',
    "operator": "In",
    "values": ["true"],
}
_NOT_SERVING = {**_SERVING, "operator": "NotIn"}
_READY = {
    "key": '.status.conditions.[] | select( .type == "Ready" ) | .status',
    "operator": "In",
    "values": ["True"],
}
_NOT_READY = {**_READY, "operator": "NotIn"}


def _phase(phase: str) -> dict[str, Any]:
    return {"key": ".status.phase", "operator": "In", "values": [phase]}


def _readiness(ready: bool) -> str:
    """Conditions and container readiness, as one status template fragment."""
    value = "True" if ready else "False"
    return f"""
conditions:
- lastTransitionTime: {{{{ $now | Quote }}}}
  status: "True"
  type: Initialized
- lastTransitionTime: {{{{ $now | Quote }}}}
  status: "{value}"
  type: Ready
- lastTransitionTime: {{{{ $now | Quote }}}}
  status: "{value}"
  type: ContainersReady
{{{{ range .spec.readinessGates }}}}
- lastTransitionTime: {{{{ $now | Quote }}}}
  status: "{value}"
  type: {{{{ .conditionType | Quote }}}}
{{{{ end }}}}
"""


_POD_IPS = (
    "{{ $podIPs := PodIPsWith .spec.nodeName ( or .spec.hostNetwork false ) "
    '( or .metadata.uid "" ) ( or .metadata.name "" ) ( or .metadata.namespace "" ) }}'
)
"""kwok's pod IP allocation, as upstream's ``pod-ready`` Stage calls it."""

_RUNNING_TEMPLATE = (
    "{{ $now := Now }}\n"
    + _readiness(False)
    + """
containerStatuses:
{{ range .spec.containers }}
- image: {{ .image | Quote }}
  name: {{ .name | Quote }}
  ready: false
  restartCount: 0
  started: true
  state:
    running:
      startedAt: {{ $now | Quote }}
{{ end }}
{{ $hostIPs := NodeIPsWith .spec.nodeName }}
{{ with $hostIPs }}
hostIP: {{ index . 0 | Quote }}
hostIPs:
{{ range . }}
- ip: {{ . | Quote }}
{{ end }}
{{ end }}
"""
    + _POD_IPS
    + """
{{ with $podIPs }}
podIP: {{ index . 0 | Quote }}
podIPs:
{{ range . }}
- ip: {{ . | Quote }}
{{ end }}
{{ end }}
phase: Running
startTime: {{ $now | Quote }}
"""
)


def _ready_template(ready: bool) -> str:
    """Readiness flipped; the list of container statuses is replaced as a whole (it
    has no merge key), so each keeps its state as the running Stage wrote it."""
    return (
        "{{ $now := Now }}\n{{ $root := . }}\n"
        + _readiness(ready)
        + f"""
containerStatuses:
{{{{ range $index, $item := .spec.containers }}}}
{{{{ $origin := index $root.status.containerStatuses $index }}}}
- image: {{{{ $item.image | Quote }}}}
  name: {{{{ $item.name | Quote }}}}
  ready: {"true" if ready else "false"}
  restartCount: 0
  started: true
  state:
    running:
      startedAt: {{{{ $origin.state.running.startedAt | Quote }}}}
{{{{ end }}}}
"""
    )


def _stage(name: str, selector: list[dict[str, Any]], template: str) -> dict[str, Any]:
    return {
        "apiVersion": "kwok.x-k8s.io/v1alpha1",
        "kind": "Stage",
        "metadata": {"name": name},
        "spec": {
            "resourceRef": {"apiGroup": "v1", "kind": "Pod"},
            "selector": {"matchExpressions": selector},
            "next": {"statusTemplate": template},
        },
    }


def demo_app_stages() -> list[dict[str, Any]]:
    """The three Stages of demo-app pods (see the module docstring)."""
    return [
        _stage(
            "demo-app-pod-running",
            [_NOT_DELETED, _DEMO_APP, _phase("Pending")],
            _RUNNING_TEMPLATE,
        ),
        _stage(
            "demo-app-pod-ready",
            [_NOT_DELETED, _DEMO_APP, _phase("Running"), _SERVING, _NOT_READY],
            _ready_template(True),
        ),
        _stage(
            "demo-app-pod-unready",
            [_NOT_DELETED, _DEMO_APP, _phase("Running"), _NOT_SERVING, _READY],
            _ready_template(False),
        ),
    ]


def without_demo_apps(stage: dict[str, Any]) -> dict[str, Any]:
    """``stage`` with one more selector expression: not for demo-app pods."""
    spec = stage["spec"]
    selector = spec.get("selector") or {}
    expressions = [*selector.get("matchExpressions", []), _NOT_DEMO_APP]
    return {**stage, "spec": {**spec, "selector": {**selector, "matchExpressions": expressions}}}


def stages(upstream: dict[str, str]) -> list[dict[str, Any]]:
    """All Stages, given upstream's default Stage files (path → YAML text)."""
    found: list[dict[str, Any]] = []
    for path, text in upstream.items():
        stage = yaml.safe_load(text)
        found.append(without_demo_apps(stage) if path == _POD_READY else stage)
    return [*found, *demo_app_stages()]


POD_PLAY_STAGE_PARALLELISM: Final = 16
"""Pods kwok moves through a Stage at once (upstream's default: 4). One kwok plays the
kubelet of every pod here, where a cluster has one kubelet per node, each starting its
own pods in parallel: with 4, a burst of 100 new pods queued behind each other's status
patches (see ``e2e.bench.scale.floor``)."""


_KWOK_DEFAULTS: Final = {
    "manageAllNodes": False,
    "enableDebuggingHandlers": True,
    "enableContentionProfiling": False,
    "enableProfilingHandler": True,
    "podPlayStageParallelism": 4,
    "nodePlayStageParallelism": 4,
    "nodeLeaseParallelism": 4,
    "podsOnNodeSyncParallelism": 1,
    "enablePodsOnNodeSyncListPager": True,
    "enablePodsOnNodeSyncStreamWatch": False,
}
"""Upstream's defaulted options (``pkg/apis/config/v1alpha1/zz_generated.defaults.go``
at :data:`versions.KWOK`, the CIDR aside: ``--cidr`` gives it). kwok applies them
only when no ``KwokConfiguration`` is given (given one without, it refuses to start:
"node leases parallelism must be greater than 0"), so ours carries them all."""


def configuration() -> dict[str, Any]:
    """kwok's own options (``KwokConfiguration``), beside the Stages: upstream's
    defaults but for :data:`POD_PLAY_STAGE_PARALLELISM`."""
    options = {**_KWOK_DEFAULTS, "podPlayStageParallelism": POD_PLAY_STAGE_PARALLELISM}
    return {
        "apiVersion": "config.kwok.x-k8s.io/v1alpha1",
        "kind": "KwokConfiguration",
        "options": options,
    }


def kwok_config() -> str:
    """kwok's ``--config``: its options and every Stage, one multi-document YAML (JSON
    documents)."""
    root = build.module_dir("sigs.k8s.io/kwok", versions.KWOK)
    upstream = {path: (root / path).read_text() for path in build.KWOK_STAGES}
    documents = [configuration(), *stages(upstream)]
    return "\n---\n".join(json.dumps(document, indent=1) for document in documents)
