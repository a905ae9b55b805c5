"""A chat command carried out on the cluster: authorised per person, through the CLI's path.

:class:`Actor` takes a parsed :class:`~controller.chatops.commands.Command`, the
sender's :class:`~controller.chatops.identities.Identity` (None: unmapped) and
their chat handle (``slack:alice``, ``matrix:@alice:example.org``), and:

1. asks the API server, with a ``SubjectAccessReview`` for that user and those
   groups, whether they may ``patch`` the Rollout (``get`` for ``status``) —
   the bot's own rights never stand in for the person's;
2. reads the Rollout and refuses what the CLI would refuse (nothing to abort …),
   and a request of the same verb that the controller has not acted on yet
   ("already requested by …"), so a hundred clicks make one rollback;
3. writes exactly what ``landinggear <verb>`` writes — the one-shot request
   annotation, with ``by`` the chat handle — as a merge patch guarded by the
   resourceVersion it read (a 409 reads again and decides again), and an
   ``events.k8s.io`` Event naming the handle and the Kubernetes user.

Every refusal is an :class:`Outcome` with a polite answer, and those of an
unmapped or unauthorised person also a Warning Event on the Rollout; nothing is
changed. API failures come back as an answer too, never as an exception.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from kubernetes.client import ApiClient

from controller.chatops.commands import Command, Verb
from controller.chatops.identities import Identity
from controller.cli import api as cli_api
from controller.cli import changes, render
from controller.cli.apiclient import ApiClientTransport
from controller.cli.errors import CliError
from controller.cli.session import Session
from controller.kube.objects import KubeObject

__all__ = ["REPORTING_CONTROLLER", "Actor", "Outcome"]

REPORTING_CONTROLLER = "landinggear.dev/chatops"
_REVIEWS = "/apis/authorization.k8s.io/v1/subjectaccessreviews"
_ATTEMPTS = 5


@dataclass(frozen=True, kw_only=True)
class Outcome:
    """What the bot answers, and whether the command was carried out."""

    done: bool
    text: str


class Actor:
    """Carries out chat commands with the bot's client, for people the cluster authorises."""

    def __init__(
        self,
        api: ApiClient,
        *,
        instance: str,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.api = api
        self.instance = instance
        self.clock = clock

    def act(self, command: Command, identity: Identity | None, *, who: str) -> Outcome:
        session = Session(
            api=ApiClientTransport(self.api), namespace=command.namespace, kubeconfig_user="chatops"
        )
        try:
            return self._act(session, command, identity, who)
        except CliError as err:
            return Outcome(done=False, text=f"Could not {command.verb.words} {command.target}: "
                                            f"{err.message}")  # fmt: skip

    def _act(
        self, session: Session, command: Command, identity: Identity | None, who: str
    ) -> Outcome:
        if identity is None:
            self._refused(session, command, who, "not mapped to a Kubernetes user")
            return Outcome(
                done=False,
                text=f"Sorry, {who} is not mapped to a Kubernetes user, so I cannot "
                f"{command.verb.words} {command.target}. Ask your cluster admin to add you to "
                "the chat-ops identities ConfigMap.",
            )
        verb = "patch" if command.verb.changes else "get"
        if not self._allowed(session, identity, verb, command):
            self._refused(session, command, who, f"{identity.user} may not {verb} it")
            return Outcome(
                done=False,
                text=f"Sorry, {who} (Kubernetes user {identity.user}) may not {verb} rollout "
                f"{command.target}, so I did not {command.verb.words} it.",
            )
        if command.verb is Verb.STATUS:
            rollout = cli_api.get_rollout(session, command.rollout)
            return Outcome(done=True, text=render.summary(rollout, self.clock()))
        return self._change(session, command, identity, who)

    def _change(self, session: Session, command: Command, identity: Identity, who: str) -> Outcome:
        verb = command.verb.value
        for _ in range(_ATTEMPTS):
            rollout = cli_api.get_rollout(session, command.rollout)
            why = changes.refusal(verb, rollout, flags=command.flags)
            if why is None and verb not in ("pause", "resume"):
                pending = changes.pending_request(verb, rollout)
                if pending is not None:
                    why = (
                        f"{command.verb.words} of {command.target} was already requested by "
                        f"{pending.by}; the controller is on it"
                    )
            if why is not None:
                return Outcome(done=False, text=f"Not done: {why}.")
            stored = self._patch(session, command, rollout, who)
            if stored is not None:
                break
        else:
            return Outcome(
                done=False,
                text=f"Could not {command.verb.words} {command.target}: it kept changing under "
                "me; try again",
            )
        now = self.clock()
        event = changes.event_for(
            stored, verb=verb, user=f"{who} (as {identity.user})", at=now,
            suffix=uuid.uuid4().hex[:16], instance=self.instance, reason=command.reason,
            flags=command.flags, controller=REPORTING_CONTROLLER,
        )  # fmt: skip
        self._event(session, event)
        line = changes.confirmation(verb, stored, user=who, flags=command.flags)
        return Outcome(done=True, text=line)

    def _patch(
        self, session: Session, command: Command, rollout: KubeObject, who: str
    ) -> KubeObject | None:
        """Write the change under the resourceVersion read; None on a 409."""
        verb = command.verb.value
        if verb in ("pause", "resume"):
            patch = changes.paused_patch(verb == "pause")
        else:
            patch = changes.request_patch(
                verb, request_id=uuid.uuid4().hex, by=who, at=self.clock(),
                reason=command.reason, flags=command.flags,
            )  # fmt: skip
        version = (rollout.get("metadata") or {}).get("resourceVersion")
        guarded = {**patch, "metadata": {**(patch.get("metadata") or {}),
                                         "resourceVersion": version}}  # fmt: skip
        try:
            return cli_api.merge_patch_rollout(session, command.rollout, guarded)
        except CliError as err:
            if err.status == 409:
                return None
            raise

    def _allowed(self, session: Session, identity: Identity, verb: str, command: Command) -> bool:
        review = {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SubjectAccessReview",
            "spec": {
                "user": identity.user,
                "groups": list(identity.groups),
                "resourceAttributes": {
                    "namespace": command.namespace,
                    "verb": verb,
                    "group": "landinggear.dev",
                    "resource": "rollouts",
                    "name": command.rollout,
                },
            },
        }
        answer = cli_api.send(session, "POST", _REVIEWS, body=review)
        return bool(((answer or {}).get("status") or {}).get("allowed"))

    def _refused(self, session: Session, command: Command, who: str, why: str) -> None:
        """A Warning Event on the Rollout (if it exists) naming who was refused and why."""
        try:
            rollout = cli_api.get_rollout(session, command.rollout)
        except CliError:
            return
        event = changes.event_for(
            rollout, verb=command.verb.value, user=who, at=self.clock(),
            suffix=uuid.uuid4().hex[:16], instance=self.instance, reason=why,
            flags=command.flags, controller=REPORTING_CONTROLLER, warning=True,
        )  # fmt: skip
        self._event(session, event)

    def _event(self, session: Session, event: KubeObject) -> None:
        with contextlib.suppress(CliError):  # the change is stored; its Event is a record
            cli_api.create_event(session, event)
