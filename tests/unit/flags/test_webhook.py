"""The webhook provider against a real HTTP server on the loopback interface.

The receiver is a ``ThreadingHTTPServer`` on 127.0.0.1 (port 0) that checks each
request's signature with :func:`~controller.flags.webhook.verify` — as a real
receiver would — answers 401 when it does not hold, and records what it got.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from controller.api.flags import FeatureFlag, FlagState, SecretKeyRef
from controller.core.actions import RestoreFlag, SwitchFlagOff
from controller.flags import FlagError, FlagSwitches, FlagTarget
from controller.flags.endpoints import EndpointPolicy
from controller.flags.webhook import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WebhookProvider,
    canonical,
    sign,
    verify,
)

KEY = "whsec-0123-signing-key"


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    signed: bool


class Receiver(ThreadingHTTPServer):
    """A webhook receiver: verifies, records, and answers as told."""

    daemon_threads = True

    def __init__(self, key: str = KEY) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.key = key.encode()
        self.status = 200
        self.answer = b""
        self.redirect_to = ""
        self.slow = False
        self.release = threading.Event()
        self.received: list[Received] = []

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        receiver = self.server
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        signed = verify(
            receiver.key,
            self.headers.get(TIMESTAMP_HEADER, ""),
            body,
            self.headers.get(SIGNATURE_HEADER, ""),
            now=time.time(),
        )
        receiver.received.append(Received(self.path, dict(self.headers), body, signed))
        if receiver.slow:
            receiver.release.wait(10)
        if receiver.redirect_to:
            self._answer(302, b"", location=receiver.redirect_to)
        elif not signed:
            self._answer(401, b"bad signature")
        else:
            self._answer(receiver.status, receiver.answer)

    def _answer(self, status: int, body: bytes, *, location: str = "") -> None:
        try:
            self.send_response(status)
            if location:
                self.send_header("Location", location)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            pass  # the client gave up (the slow case)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def receivers() -> Iterator[Callable[..., Receiver]]:
    started: list[tuple[Receiver, threading.Thread]] = []

    def start(key: str = KEY) -> Receiver:
        receiver = Receiver(key)
        thread = threading.Thread(target=receiver.serve_forever, args=(0.02,), daemon=True)
        thread.start()
        started.append((receiver, thread))
        return receiver

    yield start
    for receiver, thread in started:
        receiver.release.set()
        receiver.shutdown()
        receiver.server_close()
        thread.join(5)


@pytest.fixture
def receiver(receivers: Callable[..., Receiver]) -> Receiver:
    return receivers()


class Secrets:
    def __init__(self, key: str = KEY) -> None:
        self.key = key
        self.reads = 0

    def read(self, namespace: str, ref: SecretKeyRef) -> str:
        self.reads += 1
        return self.key


def hook_flag(url: str, name: str = "new-checkout") -> FeatureFlag:
    return FeatureFlag.model_validate(
        {"name": name, "webhook": {"url": url, "secretRef": {"name": "hook-key", "key": "key"}}}
    )


def target(url: str) -> FlagTarget:
    return FlagTarget(namespace="shop", rollout="web", flag=hook_flag(url))


def provider(
    receiver: Receiver,
    *,
    secrets: Secrets | None = None,
    timeout: float = 5.0,
    clock: Callable[[], float] = time.time,
) -> WebhookProvider:
    policy = EndpointPolicy([f"{receiver.base}/hooks"])
    # No proxy from the environment: loopback only. Redirects on in the client, to show
    # that the provider turns them off for its requests.
    client = httpx.Client(trust_env=False, follow_redirects=True)
    return WebhookProvider(
        secrets or Secrets(), policy, timeout=timeout, client=client, clock=clock
    )


# ------------------------------------------------------------------ delivery


def test_the_signed_body_round_trips(receiver: Receiver) -> None:
    previous = provider(receiver).switch_off(
        target(f"{receiver.base}/hooks/flags"), reason="Abort: error rate 7%"
    )

    assert previous == ""
    (got,) = receiver.received
    assert got.signed
    assert got.path == "/hooks/flags"
    assert got.headers["Content-Type"] == "application/json"
    assert json.loads(got.body) == {
        "action": "off",
        "flag": "new-checkout",
        "reason": "Abort: error rate 7%",
        "rollout": "shop/web",
    }
    assert got.body == canonical(json.loads(got.body))  # sorted keys, compact


def test_the_previous_the_receiver_answers_goes_back_with_the_restore(receiver: Receiver) -> None:
    receiver.answer = json.dumps({"previous": '{"variant": "on"}'}).encode()
    hook = provider(receiver)
    url = f"{receiver.base}/hooks/flags"

    previous = hook.switch_off(target(url), reason="Abort: x")
    hook.restore(target(url), previous=previous)

    assert previous == '{"variant": "on"}'
    restore = json.loads(receiver.received[1].body)
    assert restore == {
        "action": "restore",
        "flag": "new-checkout",
        "previous": '{"variant": "on"}',
        "reason": "",
        "rollout": "shop/web",
    }
    assert receiver.received[1].signed


@pytest.mark.parametrize("answer", [b"", b"ok", b"[1, 2]", b'{"previous": 3}', b'{"other": "x"}'])
def test_an_answer_without_a_previous_string_means_no_record(
    receiver: Receiver, answer: bytes
) -> None:
    receiver.answer = answer
    assert provider(receiver).switch_off(target(f"{receiver.base}/hooks"), reason="x") == ""


def test_the_delivery_id_is_the_same_for_retries_of_one_intent(receiver: Receiver) -> None:
    hook = provider(receiver)
    url = f"{receiver.base}/hooks"
    hook.switch_off(target(url), reason="Abort: x")
    hook.switch_off(target(url), reason="Abort: x")
    hook.restore(target(url), previous="")
    hook.restore(target(url), previous="")
    hook.switch_off(target(url), reason="GuardFailure: y")

    ids = [r.headers[DELIVERY_HEADER] for r in receiver.received]
    assert ids[0] == ids[1]
    assert ids[2] == ids[3]
    assert len({ids[0], ids[2], ids[4]}) == 3


def test_through_the_flag_switches_the_answers_are_results(receiver: Receiver) -> None:
    receiver.answer = b'{"previous": "on"}'
    switches = FlagSwitches([provider(receiver)])
    flag = hook_flag(f"{receiver.base}/hooks")

    off = switches.apply(
        namespace="shop", rollout="web", action=SwitchFlagOff(flag=flag, reason="Abort: x")
    )
    back = switches.apply(
        namespace="shop", rollout="web", action=RestoreFlag(flag=flag, previous=off.previous)
    )

    assert (off.state, off.error, off.previous) == (FlagState.OFF, "", "on")
    assert (back.state, back.error) == (FlagState.RESTORED, "")


# ------------------------------------------------------------------ refusals


def test_a_wrong_key_is_rejected_by_the_receiver(receiver: Receiver) -> None:
    hook = provider(receiver, secrets=Secrets("not-the-key"))

    with pytest.raises(FlagError) as err:
        hook.switch_off(target(f"{receiver.base}/hooks"), reason="Abort: x")

    assert str(err.value) == (
        f"webhook {receiver.base}/hooks (flag new-checkout) answered 401 Unauthorized: "
        "bad signature"
    )
    assert not receiver.received[0].signed


def test_a_stale_timestamp_is_rejected_as_a_replay(receiver: Receiver) -> None:
    hook = provider(receiver, clock=lambda: time.time() - 600)
    with pytest.raises(FlagError, match="401"):
        hook.switch_off(target(f"{receiver.base}/hooks"), reason="Abort: x")


def test_an_address_outside_the_allow_list_is_refused_before_anything(receiver: Receiver) -> None:
    secrets = Secrets()
    hook = provider(receiver, secrets=secrets)

    with pytest.raises(FlagError, match="is not an allowed flag endpoint"):
        hook.switch_off(target(f"{receiver.base}/admin"), reason="Abort: x")

    assert receiver.received == []
    assert secrets.reads == 0


def test_a_redirect_is_not_followed(receivers: Callable[..., Receiver]) -> None:
    allowed, elsewhere = receivers(), receivers()
    allowed.redirect_to = f"{elsewhere.base}/hooks"

    with pytest.raises(FlagError) as err:
        provider(allowed).switch_off(target(f"{allowed.base}/hooks"), reason="Abort: x")

    assert f"answered 302 Found to {elsewhere.base}/hooks; redirects are not followed" in str(
        err.value
    )
    assert elsewhere.received == []


def test_a_slow_receiver_is_an_error_after_the_timeout(receiver: Receiver) -> None:
    receiver.slow = True
    hook = provider(receiver, timeout=0.5)

    started = time.monotonic()
    with pytest.raises(FlagError, match=r"no answer within 0.5s \(ReadTimeout\)"):
        hook.switch_off(target(f"{receiver.base}/hooks"), reason="Abort: x")
    assert time.monotonic() - started < 3.0


def test_a_server_error_carries_a_short_printable_excerpt(receiver: Receiver) -> None:
    receiver.status = 500
    receiver.answer = b"Traceback\x1b[31m\n  boom\x00" + b"x" * 1000

    with pytest.raises(FlagError) as err:
        provider(receiver).switch_off(target(f"{receiver.base}/hooks"), reason="Abort: x")

    message = str(err.value)
    prefix = (
        f"webhook {receiver.base}/hooks (flag new-checkout) answered 500 Internal Server Error: "
    )
    assert message.startswith(prefix + "Traceback [31m boom xxx")
    excerpt = message.removeprefix(prefix)
    assert len(excerpt) <= 200
    assert excerpt.isprintable()


def test_the_key_never_appears_in_an_error(receivers: Callable[..., Receiver]) -> None:
    canary = "whsec-CANARY-41c7"
    receiver = receivers(canary)
    receiver.status = 500
    receiver.answer = f"signed with {canary}".encode()

    with pytest.raises(FlagError) as err:
        provider(receiver, secrets=Secrets(canary)).switch_off(
            target(f"{receiver.base}/hooks"), reason="Abort: x"
        )
    assert canary not in str(err.value)
    assert "signed with ***" in str(err.value)


def test_the_query_of_a_url_stays_out_of_errors(receiver: Receiver) -> None:
    receiver.status = 503
    with pytest.raises(FlagError) as err:
        provider(receiver).switch_off(
            target(f"{receiver.base}/hooks?token=hunter2"), reason="Abort: x"
        )
    assert "hunter2" not in str(err.value)
    assert receiver.received[0].path == "/hooks?token=hunter2"


def test_a_flag_of_another_kind_is_refused(receiver: Receiver) -> None:
    other = FeatureFlag.model_validate(
        {"name": "x", "openFeature": {"featureFlag": "f", "flag": "x", "offVariant": "off"}}
    )
    with pytest.raises(FlagError, match="is not a webhook flag"):
        provider(receiver).switch_off(
            FlagTarget(namespace="shop", rollout="web", flag=other), reason="x"
        )


# ------------------------------------------------------------------ verify

NOW = 1_780_000_000


def test_verify_accepts_our_signature_and_nothing_else() -> None:
    key, ts, body = b"k", str(NOW), b'{"a":1}'
    good = sign(key, ts, body)

    assert verify(key, ts, body, good, now=NOW)
    assert verify(key, ts, body, good, now=NOW + 300)
    assert not verify(key, ts, body, good, now=NOW + 301)  # too old: a replay
    assert not verify(key, ts, body, good, now=NOW - 301)  # from the future
    assert not verify(b"other", ts, body, good, now=NOW)
    assert not verify(key, ts, b'{"a":2}', good, now=NOW)
    assert not verify(key, str(NOW + 1), body, good, now=NOW)
    assert not verify(key, ts, body, good.removeprefix("sha256="), now=NOW)
    assert not verify(key, ts, body, good.upper(), now=NOW)
    for bad_ts in ["", "abc", "-1", "1e9", "٣", "9" * 5000]:
        assert not verify(key, bad_ts, body, good, now=NOW)
    assert not verify(key, ts, body, "sha256=ü", now=NOW)


@given(
    key=st.binary(min_size=1, max_size=64),
    body=st.binary(max_size=256),
    skew=st.integers(-300, 300),
    flip=st.integers(0, 10_000),
)
def test_verify_holds_for_any_body_and_fails_for_any_changed_byte(
    key: bytes, body: bytes, skew: int, flip: int
) -> None:
    ts = str(NOW + skew)
    signature = sign(key, ts, body)
    assert verify(key, ts, body, signature, now=NOW)
    if body:
        i = flip % len(body)
        changed = body[:i] + bytes([body[i] ^ 0x01]) + body[i + 1 :]
        assert not verify(key, ts, changed, signature, now=NOW)
