"""A byte relay between loopback TCP ports and Unix sockets.

``python -m e2e.netns.relay --listen tcp:127.0.0.1:PORT|unix:/path
--connect tcp:127.0.0.1:PORT|unix:/path [--ready-file PATH]``

Each accepted connection opens one connection to ``--connect`` and copies bytes
both ways until both directions have ended; an end of stream on one side is
passed on as a half-close (``shutdown(SHUT_WR)``) to the other. A relay is one
half of a crossing of the network-namespace boundary: one side listens on
loopback in its namespace and connects to a Unix socket in the cluster's run
directory, which the other side's relay listens on (file-system paths are shared
by every namespace; network addresses are not).

TCP addresses must be loopback: a relay never listens on or connects to anything
else. Nothing is printed per connection; SIGTERM or SIGINT stops the relay and
removes its Unix socket. ``--ready-file`` is created once the relay listens.

Standard library only, so the harness can run it by path with any Python.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

_CHUNK = 64 * 1024


class AddressError(ValueError):
    """An endpoint is malformed or not loopback."""


@dataclass(frozen=True, kw_only=True)
class Endpoint:
    """``tcp:HOST:PORT`` (loopback host only) or ``unix:PATH``."""

    host: str = ""
    port: int = 0
    path: str = ""

    def __str__(self) -> str:
        return f"unix:{self.path}" if self.path else f"tcp:{self.host}:{self.port}"


def parse(text: str) -> Endpoint:
    """Parse an endpoint, refusing any TCP address that is not a loopback IP literal."""
    kind, _, rest = text.partition(":")
    if kind == "unix" and rest:
        return Endpoint(path=rest)
    if kind == "tcp":
        host, _, port = rest.rpartition(":")
        host = host.strip("[]")
        try:
            address = ipaddress.ip_address(host)
            number = int(port)
        except ValueError as err:
            raise AddressError(f"{text!r}: want tcp:<loopback IP>:<port>") from err
        if not address.is_loopback:
            raise AddressError(f"{text!r}: only loopback addresses may be relayed")
        if not 0 < number < 65536:
            raise AddressError(f"{text!r}: port out of range")
        return Endpoint(host=host, port=number)
    raise AddressError(f"{text!r}: want tcp:<loopback IP>:<port> or unix:<path>")


async def _open(target: Endpoint) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    if target.path:
        return await asyncio.open_unix_connection(target.path)
    return await asyncio.open_connection(target.host, target.port)


async def _copy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(_CHUNK):
            writer.write(data)
            await writer.drain()
    except OSError:
        writer.transport.abort()  # the other side reset: reset this one too
        return
    with contextlib.suppress(OSError):
        if writer.can_write_eof():
            writer.write_eof()


async def _serve_one(
    target: Endpoint, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    try:
        up_reader, up_writer = await _open(target)
    except OSError:
        writer.transport.abort()
        return
    try:
        await asyncio.gather(_copy(reader, up_writer), _copy(up_reader, writer))
    finally:
        for side in (writer, up_writer):
            side.close()
            with contextlib.suppress(OSError):
                await side.wait_closed()


async def serve(listen: Endpoint, target: Endpoint, *, ready_file: Path | None = None) -> None:
    """Relay connections from ``listen`` to ``target`` until SIGTERM or SIGINT."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await _serve_one(target, reader, writer)
        except asyncio.CancelledError:
            # Stopping with connections open: end them and finish the task normally
            # (Python 3.11's stream callback logs a traceback for a cancelled one).
            writer.transport.abort()

    if listen.path:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(listen.path)  # a socket file left by a killed relay
        server = await asyncio.start_unix_server(handle, path=listen.path)
        os.chmod(listen.path, 0o600)
    else:
        server = await asyncio.start_server(handle, host=listen.host, port=listen.port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    if ready_file is not None:
        ready_file.touch()
    try:
        await stop.wait()
    finally:
        server.close()
        if listen.path:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(listen.path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m e2e.netns.relay", description=__doc__)
    parser.add_argument("--listen", required=True, help="tcp:127.0.0.1:PORT or unix:/path")
    parser.add_argument("--connect", required=True, help="tcp:127.0.0.1:PORT or unix:/path")
    parser.add_argument("--ready-file", type=Path, help="create this file once listening")
    args = parser.parse_args(argv)
    try:
        listen, target = parse(args.listen), parse(args.connect)
    except AddressError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    asyncio.run(serve(listen, target, ready_file=args.ready_file))
    return 0


if __name__ == "__main__":
    sys.exit(main())
