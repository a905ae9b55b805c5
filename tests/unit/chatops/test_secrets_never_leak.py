"""No chat-ops credential ends up in an error, hence in a log line: the Slack bot
token, a Teams webhook URL (the URL is the secret), the notification webhooks'
signing key and the Matrix access token, each a unique canary, against a loopback
backend that fails every request and echoes it back (:mod:`tests.support.echoing`).

The notifier logs a failed delivery's ``repr(err)`` (cut at 300 characters) and
the Matrix bot its ``MatrixError``; both are checked here, whole.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from slack_sdk import WebClient

from controller.chatops.commands import Verb
from controller.chatops.matrix.api import MatrixApi
from controller.chatops.notes import ReleaseNote
from controller.chatops.slack.notify import SlackSink
from controller.chatops.webhooks import TeamsSink, WebhookSink
from tests.support.echoing import STATUSES, EchoingBackend

pytestmark = pytest.mark.unit

CANARIES = {
    "slack": "xoxb-canary-slack-4be81d",
    "teams": "canary-teams-path-93f0aa",
    "teams-sig": "canary-teams-sig-6d12c7",
    "webhook": "canary-notify-key-2a7e55",
    "matrix": "syt_canary_matrix_c09b31",
}
NOTE = ReleaseNote(
    namespace="payments",
    rollout="web",
    revision="c2",
    headline="payments/web: release c2 paused",
    lines=("Canary c2 at 50%",),
    actions=(Verb.PROMOTE,),
    severity="warning",
)


@pytest.fixture
def backend() -> Iterator[EchoingBackend]:
    server = EchoingBackend()
    yield server
    server.stop()


def failures(attempt: Callable[[], object], times: int) -> list[str]:
    """What each failed attempt's error says, as the logs would show it."""
    said = []
    for _ in range(times):
        with pytest.raises(Exception) as caught:  # noqa: PT011 - any failure, checked below
            attempt()
        said += [str(caught.value), repr(caught.value)]
    return said


def assert_no_canary(text: str) -> None:
    for name, canary in CANARIES.items():
        assert canary not in text, f"the {name} secret leaked: {text[:400]}"


def test_notification_sinks_never_say_their_secrets(backend: EchoingBackend) -> None:
    slack = SlackSink(
        WebClient(token=CANARIES["slack"], base_url=f"{backend.url}/api/", timeout=5),
        channel="C0DEPLOYS",
        name="slack",
    )
    teams = TeamsSink(
        f"{backend.url}/webhookb2/{CANARIES['teams']}/IncomingWebhook?sig={CANARIES['teams-sig']}",
        name="teams",
        timeout=5,
    )
    hook = WebhookSink(
        f"{backend.url}/hook", name="hook", key=CANARIES["webhook"].encode(), timeout=5
    )
    said: list[str] = []
    for sink in (slack, teams, hook):
        said += failures(lambda s=sink: s.post(NOTE), times=len(STATUSES))  # type: ignore[misc]

    assert backend.answered >= 3 * len(STATUSES)
    assert any(CANARIES["slack"] in h for h in backend.received)  # the token was sent
    assert_no_canary("\n".join(said))


def test_the_matrix_client_never_says_its_token(backend: EchoingBackend) -> None:
    matrix = MatrixApi(backend.url, CANARIES["matrix"], timeout=5, sleep=lambda _: None)
    try:
        said = failures(matrix.whoami, times=len(STATUSES))
        said += failures(lambda: matrix.send("!room:x", {"body": "hi"}), times=len(STATUSES))
    finally:
        matrix.close()
    assert any(CANARIES["matrix"] in h for h in backend.received)
    assert_no_canary("\n".join(said))
