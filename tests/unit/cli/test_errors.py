"""API failures reach the user as the API server's own one-line message."""

from __future__ import annotations

import json

from controller.cli.errors import api_failure


def test_a_forbidden_answer_prints_the_api_message_like_kubectl() -> None:
    message = (
        'rollouts.landinggear.dev "web" is forbidden: User "system:serviceaccount:shop:ci" '
        'cannot get resource "rollouts" in API group "landinggear.dev" in the namespace "shop"'
    )
    body = json.dumps({"kind": "Status", "reason": "Forbidden", "message": message, "code": 403})

    error = api_failure(403, "Forbidden", body.encode())

    assert error.message == f"Error from server (Forbidden): {message}"
    assert error.code == 1


def test_an_answer_without_a_status_body_still_explains_itself() -> None:
    assert api_failure(502, "Bad Gateway", b"").message == (
        "Error from server (Bad Gateway): the server answered 502 Bad Gateway"
    )
    assert api_failure(500, "x", b"boom").message == ("Error from server (x): boom")
