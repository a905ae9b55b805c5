"""A Matrix command through the real ``landinggear chatops`` process, on the real API server,
with a real controller process and the real Synapse homeserver.

The bot runs as a ServiceAccount holding exactly the shipped chat-ops rights
(``manifests/chatops/rbac.yaml``), configured for Matrix alone. The on-call
engineer (a ``matrix-nio`` client, mapped to ``alice`` in group ``payments-oncall``)
types ``!landinggear abort <ns>/web`` in the bot's room: the canary ReplicaSet goes
to 0, the stable is back at full size, and the answer arrives in a thread.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from controller.chatops.identities import matrix_key
from e2e.matrix import Account, SynapseServer
from e2e.matrix.client import ChatUser
from tests.support.accounts import service_account_kubeconfig
from tests.support.aio import synchronously
from tests.support.chatops import chatops_events, grant_oncall, paused_canary
from tests.support.chatops_bot import ACCOUNT, IDENTITIES, shipped_rbac
from tests.support.matrix import account
from tests.support.scenario import ROOT, Harness
from tests.support.waiting import eventually


@asynccontextmanager
async def matrix_bot(
    harness: Harness, synapse: SynapseServer, bot: Account, room: str, tmp_path: Path
) -> AsyncIterator[subprocess.Popen[bytes]]:
    """The real ``landinggear chatops`` process, Matrix only, reading ``room``."""
    kube, ns = harness.kube, harness.namespace
    role_name = f"landinggear-chatops-{ns}"
    kubeconfig = service_account_kubeconfig(kube, ns, ACCOUNT, tmp_path / "sa")
    for obj in shipped_rbac(ns, role_name):
        harness.apply(obj)
    (tmp_path / "matrix-token").write_text(bot.access_token)
    log = tmp_path / "chatops.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "controller", "chatops", f"--kubeconfig={kubeconfig}",
             "--listen=127.0.0.1:0", f"--matrix-homeserver={synapse.url}",
             f"--matrix-token-file={tmp_path / 'matrix-token'}", f"--matrix-room={room}",
             f"--identities={ns}/{IDENTITIES}", "--identities-refresh=1",
             f"--instance=chatops-{ns}"],
            cwd=ROOT, env=dict(os.environ), stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        eventually(lambda: b"Reading Matrix commands" in log.read_bytes(), timeout=30,
                   what="the bot reading its room")  # fmt: skip
        yield proc
    finally:
        proc.terminate()
        code = proc.wait(timeout=30)
        print(f"----- chatops log (exit {code}) -----\n{log.read_text()[-6000:]}")
        kube.kubectl("delete", "clusterrolebinding,clusterrole", role_name, check=False)


@synchronously
async def test_a_matrix_command_aborts_and_the_answer_arrives_in_a_thread(
    harness: Harness, synapse: SynapseServer, tmp_path: Path
) -> None:
    ns = harness.namespace
    bot_account, alice_account = account(synapse, "bot"), account(synapse, "alice")
    harness.apply(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": IDENTITIES},
         "data": {str(matrix_key(alice_account.user_id)):
                  "{user: alice, groups: [payments-oncall]}"}}
    )  # fmt: skip
    grant_oncall(harness)
    stable = paused_canary(harness)
    canary = harness.status()["canaryRevision"]
    async with ChatUser(synapse.url, alice_account) as alice:
        room = await alice.create_room(name="deploys", invite=[bot_account.user_id])
        async with matrix_bot(harness, synapse, bot_account, room, tmp_path):
            sent_at = time.monotonic()
            sent = await alice.send_text(room, f"!landinggear abort {ns}/web errors in checkout")
            answer = await alice.wait_for(room, lambda m: m.thread_root == sent, timeout=30)
            answered = time.monotonic() - sent_at
            eventually(lambda: harness.replica_sets().get(canary, (0, 0))[0] == 0, timeout=30,
                       what="canary at 0 replicas (or gone)")  # fmt: skip
            at_zero = time.monotonic() - sent_at
            harness.wait_status("rolled back", phase="Degraded", stableRevision=stable, timeout=30)
            eventually(lambda: harness.replica_sets().get(stable) == (2, 2), timeout=30,
                       what="stable back at full size")  # fmt: skip
            restored = time.monotonic() - sent_at

    who = f"matrix:{alice_account.user_id}"
    assert answer.sender == bot_account.user_id
    assert answer.body == f"Requested abort of rollout {ns}/web (as {who}): errors in checkout"
    aborted = [h for h in harness.status()["history"] if h["action"] == "Aborted"]
    assert aborted[-1]["by"] == who
    assert any(e.type == "Normal" and f"{who} (as alice) requested abort" in e.note
               for e in chatops_events(harness))  # fmt: skip
    print(f"\nmessage sent → answer in thread: {answered:.2f} s; "
          f"message sent → canary at 0 replicas: {at_zero:.2f} s; "
          f"→ stable at full size: {restored:.2f} s")  # fmt: skip


@synchronously
async def test_a_release_note_in_the_room_offers_abort_and_is_edited_when_it_is_done(
    harness: Harness, synapse: SynapseServer, tmp_path: Path
) -> None:
    """``landinggear.dev/notify: matrix``: one notice per release in the bot's room with the
    commands to type; the engineer types the abort it offers; the same notice is edited."""
    ns = harness.namespace
    bot_account, alice_account = account(synapse, "bot"), account(synapse, "alice")
    harness.apply(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": IDENTITIES},
         "data": {str(matrix_key(alice_account.user_id)):
                  "{user: alice, groups: [payments-oncall]}"}}
    )  # fmt: skip
    grant_oncall(harness)
    paused_canary(harness)
    canary = harness.status()["canaryRevision"]
    harness.kube.kubectl(
        "annotate", "rollout.landinggear.dev/web", "landinggear.dev/notify=matrix", f"-n={ns}"
    )
    command = f"!landinggear abort {ns}/web"
    async with ChatUser(synapse.url, alice_account) as alice:
        room = await alice.create_room(name="deploys", invite=[bot_account.user_id])
        async with matrix_bot(harness, synapse, bot_account, room, tmp_path):
            note = await alice.wait_for(
                room, lambda m: m.sender == bot_account.user_id and command in m.body, timeout=60
            )
            assert note.msgtype == "m.notice"
            sent_at = time.monotonic()
            await alice.send_text(room, command)
            eventually(lambda: harness.replica_sets().get(canary, (0, 0))[0] == 0, timeout=30,
                       what="canary at 0 replicas (or gone)")  # fmt: skip
            at_zero = time.monotonic() - sent_at
            edited = await alice.wait_for(
                room,
                lambda m: m.event_id == note.event_id and m.edited and command not in m.body,
                timeout=60,
            )
    assert f"!landinggear retry {ns}/web" in edited.body
    print(f"\nnote → typed abort → canary at 0 replicas: {at_zero:.2f} s; the note now reads: "
          f"{edited.body.splitlines()[0]!r}")  # fmt: skip
