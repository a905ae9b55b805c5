"""The demo's last act: a release whose new code path ships dark behind an Unleash flag.

The team tells the Rollout about the flag (``spec.featureFlags``, ``onAnomaly:
DisableFlags``: keep the release, only switch the flag off), releases v4 with the
new path behind ``new-checkout`` (off), then turns the flag on in Unleash. The
new path fails 10 % of requests; the analysis sees the canary's errors rise, the
controller switches the flag off in Unleash, the canary's own Unleash SDK sees it
and the errors go back to the baseline, the canary is judged again from zero and
promoted. Every figure is measured as it happens: the controller's history and
flag status (its clock), the app's SDK (``demo_flag_observed_off_timestamp_seconds``
in Prometheus) and the requests the traffic generator sent.
"""

from __future__ import annotations

import json
import time
from datetime import datetime
from typing import TYPE_CHECKING, Any

from e2e.demo.recorder import Sample
from e2e.demo.script import NAME, DemoFailed
from e2e.demo.summary import FlaggedRelease

if TYPE_CHECKING:
    from e2e.demo.story import Story

FEATURE = "new-checkout"
FLAG_ERROR_RATE = "0.1"
PROPAGATION = "3s"
"""The demo apps' SDK polls every second; a real app's Unleash SDK every 15 s."""


def _when(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _history_at(sample: Sample, action: str) -> float | None:
    times = [h["time"] for h in sample.status.get("history") or [] if h.get("action") == action]
    return _when(times[-1]) if times else None


def _flag_changed_at(sample: Sample) -> float | None:
    for entry in sample.status.get("featureFlags") or []:
        if entry.get("name") == FEATURE and entry.get("state") == "Off" and entry.get("changedAt"):
            return _when(entry["changedAt"])
    return None


def flagged_release(story: Story, stable: str, rollout: dict[str, Any]) -> FlaggedRelease:
    """Act 4 against ``stable`` (the current stable revision); ``rollout`` is the
    Rollout as first applied, to which the flag is added."""
    _teach_the_rollout(story, rollout)
    unleash = story.stack.unleash
    env = [
        {"name": "ERROR_RATE", "value": "0.005"},
        {"name": "FLAG", "value": FEATURE},
        {"name": "FLAG_ERROR_RATE", "value": FLAG_ERROR_RATE},
    ]
    patch = {
        "spec": {
            "template": {
                "spec": {"containers": [{"name": NAME, "image": f"{NAME}:v4", "env": env}]}
            }
        }
    }
    released = time.monotonic()
    story.sh.kubectl("patch", f"deployment/{NAME}", "-p", json.dumps(patch))
    v4 = story.canary_started(stable, released)
    story.wait(
        "the canary to serve at 20 %",
        lambda s: (
            s.status.get("canaryRevision") == v4 and int(s.status.get("canaryWeight") or 0) > 0
        ),
        timeout=60,
        since=released,
    )
    time.sleep(1)  # the canary serves with the flag off: healthy
    story.say(
        f"The flag goes on (a person, in Unleash); its new path fails {float(FLAG_ERROR_RATE):.0%}"
    )
    on_path = f"/projects/default/features/{FEATURE}/environments/{unleash.environment}/on"
    story.print(f"$ curl -X POST {unleash.url}/api/admin{on_path} -H 'Authorization: …'")
    flag_on = time.time()
    flag_on_mono = time.monotonic()
    with unleash.admin() as admin:
        admin.post(on_path).raise_for_status()
    story.follow(flag_on_mono)
    disabled = story.wait(
        "the controller to switch the flag off",
        lambda s: (
            _history_at(s, "FlagsDisabled") is not None or s.status.get("phase") == "Degraded"
        ),
        timeout=120,
        since=flag_on_mono,
    )
    anomaly = _history_at(disabled, "FlagsDisabled")
    if anomaly is None:
        raise DemoFailed(f"v4 was aborted instead of keeping it: {disabled.status.get('message')}")
    confirmed = story.wait(
        "Unleash to confirm the flag off",
        lambda s: _flag_changed_at(s) is not None,
        timeout=60,
        since=disabled.at,
    )
    off_at = _flag_changed_at(confirmed)
    assert off_at is not None
    seen_off = _observed_off(story, v4)
    seen_mono = time.monotonic() - (time.time() - seen_off)
    done = story.wait(
        "v4 to be promoted with its flag off",
        lambda s: s.status.get("stableRevision") == v4 or s.status.get("phase") == "Degraded",
        timeout=120,
        since=confirmed.at,
    )
    story.stack.recorder.echo(None)
    if done.status.get("stableRevision") != v4:
        raise DemoFailed(f"v4 was aborted after the flag went off: {done.status.get('message')}")
    story.print(f"\nPromoted: v4 ({v4}) is stable with {FEATURE} off.")
    story.print(story.sh.landinggear("flags", NAME).rstrip())
    before = _counts_at(story, v4, flag_on_mono)
    during = _counts_at(story, v4, seen_mono)
    after = _counts_at(story, v4, done.at)
    stable_during = _counts_at(story, stable, seen_mono)
    stable_after = _counts_at(story, stable, done.at)
    return FlaggedRelease(
        revision=v4,
        flag=FEATURE,
        flag_error_rate=float(FLAG_ERROR_RATE),
        flag_on_to_anomaly=anomaly - flag_on,
        anomaly_to_flag_off=off_at - anomaly,
        flag_off_to_app_sees_off=seen_off - off_at,
        requests_with_flag_on=during[0] - before[0],
        errors_with_flag_on=during[1] - before[1],
        requests_after=after[0] - during[0],
        errors_after=after[1] - during[1],
        stable_requests_after=stable_after[0] - stable_during[0],
        stable_errors_after=stable_after[1] - stable_during[1],
        to_promotion=done.at - released,
    )


def _teach_the_rollout(story: Story, rollout: dict[str, Any]) -> None:
    """The feature in Unleash (off), its token in a Secret, and the Rollout told of it."""
    unleash = story.stack.unleash
    story.say(
        f"Release v4: its new checkout ships dark behind the Unleash flag {FEATURE} (off); "
        "the Rollout learns the flag first"
    )
    with unleash.admin() as admin:
        admin.post("/projects/default/features", json={"name": FEATURE}).raise_for_status()
    story.print(f"Unleash at {unleash.url}: feature {FEATURE} created, off in production")
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "unleash-admin"},
        "stringData": {"token": unleash.admin_token},
    }
    story.sh.kubectl(
        "apply", "-f", "-", stdin=json.dumps(secret),
        shown="kubectl create secret generic unleash-admin --from-literal=token=…",
    )  # fmt: skip
    flag = {
        "name": FEATURE,
        "unleash": {
            "address": unleash.url,
            "environment": unleash.environment,
            "feature": FEATURE,
            "tokenSecretRef": {"name": "unleash-admin", "key": "token"},
        },
    }
    canary = rollout["spec"]["strategy"]["canary"]
    changed = {
        **rollout,
        "spec": {
            **rollout["spec"],
            "featureFlags": [flag],
            "strategy": {
                "canary": {**canary, "onAnomaly": "DisableFlags", "flagPropagation": PROPAGATION}
            },
        },
    }
    story.print(
        "The Rollout gains (in rollout.yaml):\n"
        f"  featureFlags: [{{name: {FEATURE}, unleash: {{address: {unleash.url}, "
        f"environment: production, feature: {FEATURE}, tokenSecretRef: …}}}}]\n"
        f"  strategy.canary.onAnomaly: DisableFlags   # keep the release, switch the flag off\n"
        f"  strategy.canary.flagPropagation: {PROPAGATION}"
    )
    story.sh.kubectl(
        "apply", "-f", "-", stdin=json.dumps(changed), shown="kubectl apply -f rollout.yaml"
    )


def _observed_off(story: Story, revision: str) -> float:
    """When the canary's own SDK saw the flag go off (its gauge, through Prometheus)."""
    query = (
        "max(demo_flag_observed_off_timestamp_seconds"
        f'{{namespace="{story.o.namespace}", revision="{revision}"}})'
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        story.stack.check()
        found = [s.value for s in story.stack.prometheus.query(query) if s.value > 0]
        if found:
            return found[0]
        time.sleep(0.2)
    raise DemoFailed("the canary's Unleash SDK never reported the flag off")


def _counts_at(story: Story, revision: str, at: float) -> tuple[int, int]:
    """(sent, errors) of ``revision`` in the last sample taken at or before ``at``."""
    samples = story.stack.recorder.history(0.0, at)
    for sample in reversed(samples):
        counts = sample.served.get(revision)
        if counts is not None:
            return counts.sent, counts.errors + counts.failed
    return 0, 0
