"""LaunchDarkly's REST API for flags, as documented, behind ``httpx.MockTransport`` (a fake).

A contract test, not LaunchDarkly: LaunchDarkly's servers cannot run here, so
this implements what its API reference documents for the two routes the
provider uses, and the provider's tests hold it to that contract:

- ``GET /api/v2/flags/{projectKey}/{featureFlagKey}?env=<key>``: the flag, its
  ``environments`` narrowed to the ones named by ``env``; 404 for an unknown
  project or flag.
- ``PATCH /api/v2/flags/{projectKey}/{featureFlagKey}`` with ``Content-Type:
  application/json; domain-model=launchdarkly.semanticpatch`` and a body
  ``{environmentKey, comment?, instructions: [{kind, ...}]}``: the instructions
  ``turnFlagOn`` / ``turnFlagOff`` (need ``environmentKey``) and ``addTags`` /
  ``removeTags`` (``values``), applied all or nothing, each doing nothing if the
  flag is already so; answers 200 with the whole flag. Without the
  ``domain-model`` parameter the body would be read as a JSON patch: 400. An
  unknown instruction, a missing parameter, a tag breaking LaunchDarkly's rule
  (at most 64 of letters, digits, ``.``, ``_``, ``-``): 400.
- Every request needs ``Authorization: <token>`` (bare, no scheme): else 401.
- Errors are ``{"code", "message", "id"}`` JSON, as the API documents.

Faults are queued per test (:attr:`FakeLaunchDarkly.faults`), one per request:
a response to send instead of handling the request, an exception to raise (a
timeout), ``"pass"`` (handle this one normally), or ``"apply-then-drop"``, which
applies a PATCH and then loses the answer (a crash between the change and its
confirmation).
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

TOKEN = "api-0123-canary-token-4567"
TAG = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
SEMANTIC_PATCH_PARAM = "domain-model=launchdarkly.semanticpatch"
FLAG_PATH = re.compile(r"^/api/v2/flags/(?P<project>[^/]+)/(?P<flag>[^/]+)$")

Fault = httpx.Response | Exception | str


class InstructionError(Exception):
    pass


def new_flag(key: str, *, on: dict[str, bool], tags: list[str] | None = None) -> dict[str, Any]:
    return {
        "key": key,
        "name": key,
        "kind": "boolean",
        "_version": 1,
        "tags": list(tags or []),
        "variations": [{"value": True}, {"value": False}],
        "environments": {
            env: {"on": state, "_environmentName": env, "_version": 1, "archived": False}
            for env, state in on.items()
        },
    }


def apply_instructions(
    flag: dict[str, Any], environment: str | None, instructions: Any
) -> dict[str, Any]:
    """The flag after a semantic patch, all or nothing; raises InstructionError (a 400)."""
    if not isinstance(instructions, list) or not instructions:
        raise InstructionError("instructions must be a non-empty array")
    result = copy.deepcopy(flag)
    for instruction in instructions:
        kind = instruction.get("kind") if isinstance(instruction, dict) else None
        if kind in ("turnFlagOn", "turnFlagOff"):
            if not environment:
                raise InstructionError(f"{kind} requires environmentKey")
            env = result["environments"].get(environment)
            if env is None:
                raise InstructionError(f"unknown environment key {environment!r}")
            env["on"] = kind == "turnFlagOn"
        elif kind in ("addTags", "removeTags"):
            values = instruction.get("values")
            if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
                raise InstructionError(f"{kind} requires values: a list of strings")
            bad = [v for v in values if not TAG.match(v)]
            if bad:
                raise InstructionError(f"invalid tag {bad[0]!r}")
            if kind == "addTags":
                result["tags"] += [v for v in values if v not in result["tags"]]
            else:
                result["tags"] = [t for t in result["tags"] if t not in values]
        else:
            raise InstructionError(f"unknown instruction kind {kind!r}")
    if result != flag:
        result["_version"] += 1
    return result


def _error(status: int, code: str, message: str) -> httpx.Response:
    return httpx.Response(status, json={"code": code, "message": message, "id": "req-1"})


@dataclass
class Request:
    method: str
    path: str
    headers: httpx.Headers
    body: Any


@dataclass
class FakeLaunchDarkly:
    """Flags per project, the one valid token, a queue of faults, and the requests seen."""

    flags: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    token: str = TOKEN
    faults: list[Fault] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)
    before_patch: Callable[[FakeLaunchDarkly], None] | None = None
    """Runs before each PATCH is applied (another client's change, in between)."""

    def add(self, project: str, flag: dict[str, Any]) -> None:
        self.flags[(project, flag["key"])] = flag

    def flag(self, project: str = "shop", key: str = "new-checkout") -> dict[str, Any]:
        return self.flags[(project, key)]

    def client(self) -> httpx.Client:
        return httpx.Client(transport=httpx.MockTransport(self.handle))

    def patches(self) -> list[list[dict[str, Any]]]:
        return [r.body["instructions"] for r in self.requests if r.method == "PATCH"]

    def handle(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else None
        self.requests.append(Request(request.method, request.url.path, request.headers, body))
        drop = False
        if self.faults:
            fault = self.faults.pop(0)
            if fault == "apply-then-drop":
                drop = True
            elif fault == "pass":
                pass
            elif isinstance(fault, Exception):
                raise fault
            elif isinstance(fault, httpx.Response):
                return fault
        response = self.answer(request, body)
        if drop:
            raise httpx.ReadTimeout("the answer was lost", request=request)
        return response

    def answer(self, request: httpx.Request, body: Any) -> httpx.Response:
        if request.headers.get("Authorization") != self.token:
            return _error(401, "unauthorized", "Invalid access token")
        match = FLAG_PATH.match(request.url.path)
        if match is None:
            return _error(404, "not_found", "Unknown resource")
        key = (match["project"], match["flag"])
        if key not in self.flags:
            return _error(404, "not_found", "Unknown feature flag or project")
        if request.method == "GET":
            flag = copy.deepcopy(self.flags[key])
            envs = request.url.params.get_list("env")
            if envs:
                flag["environments"] = {k: v for k, v in flag["environments"].items() if k in envs}
            return httpx.Response(200, json=flag)
        if request.method != "PATCH":
            return _error(405, "method_not_allowed", "Method not allowed")
        content_type = request.headers.get("Content-Type", "")
        media, *params = [p.strip() for p in content_type.split(";")]
        if media != "application/json":
            return _error(415, "unsupported_media_type", "Unsupported content type")
        if SEMANTIC_PATCH_PARAM not in params:
            return _error(400, "invalid_request", "Invalid JSON patch: not an array")
        if self.before_patch is not None:
            self.before_patch(self)
        try:
            environment = body.get("environmentKey") if isinstance(body, dict) else None
            instructions = body.get("instructions") if isinstance(body, dict) else None
            self.flags[key] = apply_instructions(self.flags[key], environment, instructions)
        except InstructionError as err:
            return _error(400, "invalid_request", str(err))
        return httpx.Response(200, json=self.flags[key])
