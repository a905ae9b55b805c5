"""Every API error the controller logs says its status code, reason and message."""

from __future__ import annotations

import json

import pytest
from kubernetes.client.exceptions import ApiException
from structlog.testing import capture_logs

from controller.kube.errors import describe
from controller.kube.leaderelection import LeaderElector
from tests.unit.kube.fakes import FakeClock, FakeLeaseLock

FORBIDDEN = (
    'leases.coordination.k8s.io "lg" is forbidden: User "system:serviceaccount:ns:lg" '
    'cannot get resource "leases" in API group "coordination.k8s.io" in the namespace "ns"'
)


def _status(code: int, reason: str, message: str) -> str:
    body = {"kind": "Status", "status": "Failure", "code": code, "reason": reason}
    return json.dumps({**body, "message": message})


def forbidden() -> ApiException:
    return ApiException(status=403, reason="Forbidden", body=_status(403, "Forbidden", FORBIDDEN))


def test_an_api_error_shows_status_reason_and_the_servers_message() -> None:
    assert describe(forbidden()) == f"403 Forbidden: {FORBIDDEN}"


def test_the_status_objects_reason_is_preferred_to_the_http_phrase() -> None:
    err = ApiException(status=404, reason="Not Found", body=_status(404, "NotFound", "gone"))
    assert describe(err) == "404 NotFound: gone"


@pytest.mark.parametrize(
    ("err", "expected"),
    [
        (ApiException(status=404, reason="Not Found"), "404 Not Found"),
        (
            ApiException(status=502, reason="Bad Gateway", body="<html>oops</html>\n"),
            "502 Bad Gateway: <html>oops</html>",
        ),
        (ApiException(status=500, reason="Internal", body="[1]"), "500 Internal: [1]"),
        (ApiException(), "no answer from the API server"),
    ],
)
def test_an_api_error_without_a_status_body_still_says_what_is_known(
    err: ApiException, expected: str
) -> None:
    assert describe(err) == expected
    assert "ApiException()" not in describe(err)


def test_other_errors_show_their_type_and_text_on_one_line() -> None:
    assert describe(ConnectionRefusedError(111, "refused")) == (
        "ConnectionRefusedError: [Errno 111] refused"
    )
    assert describe(TimeoutError()) == "TimeoutError"
    assert describe(ValueError("two\n  lines")) == "ValueError: two lines"


class ForbiddenLock(FakeLeaseLock):
    def get(self, *, timeout: float) -> None:
        raise forbidden()


def test_the_elector_logs_a_lease_error_with_its_status_and_message() -> None:
    clock = FakeClock()
    elector = LeaderElector(ForbiddenLock(), "a", clock=clock, sleep=clock.sleep)
    with capture_logs() as logs:
        assert not elector.try_acquire_or_renew()
    [failed] = [e for e in logs if e["event"] == "Failed to read or write the lease"]
    assert failed["error"] == f"403 Forbidden: {FORBIDDEN}"
