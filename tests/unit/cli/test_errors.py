"""API failures reach the user as the API server's own one-line message."""

from __future__ import annotations

import json

from kubernetes.client.exceptions import ApiException

from controller.cli.errors import from_api_exception


def test_a_forbidden_answer_prints_the_api_message_like_kubectl() -> None:
    message = (
        'rollouts.landinggear.dev "web" is forbidden: User "system:serviceaccount:shop:ci" '
        'cannot get resource "rollouts" in API group "landinggear.dev" in the namespace "shop"'
    )
    body = json.dumps({"kind": "Status", "reason": "Forbidden", "message": message, "code": 403})

    error = from_api_exception(ApiException(status=403, reason="Forbidden", body=body))

    assert error.message == f"Error from server (Forbidden): {message}"
    assert error.code == 1


def test_an_answer_without_a_status_body_still_explains_itself() -> None:
    assert from_api_exception(ApiException(status=502, reason="Bad Gateway")).message == (
        "Error from server (Bad Gateway): the server answered 502 Bad Gateway"
    )
    assert from_api_exception(ApiException(status=500, reason="x", body="boom")).message == (
        "Error from server (x): boom"
    )
