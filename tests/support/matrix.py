"""Helpers for tests against the real Synapse homeserver (``e2e.matrix``): accounts with
names no other test uses, and the network sockets a process holds (from ``/proc``)."""

from __future__ import annotations

import contextlib
import ipaddress
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

from e2e.matrix import Account, SynapseServer


def account(server: SynapseServer, name: str, *, admin: bool = False) -> Account:
    """A fresh account ``@<name>-<random>:localhost`` (the server lives for the session)."""
    return server.register(f"{name}-{uuid.uuid4().hex[:8]}", admin=admin)


@dataclass(frozen=True)
class Socket:
    protocol: str
    local: str
    remote: str

    def loopback_only(self) -> bool:
        """Whether both ends are loopback (an unconnected end, 0.0.0.0 or ::, counts
        as no end: a listening or unconnected socket)."""
        for address in (self.local, self.remote):
            ip = ipaddress.ip_address(address)
            if not (ip.is_loopback or ip.is_unspecified):
                return False
        return True


def _address(hex_address: str) -> str:
    """``/proc/net/tcp`` notation (little-endian 32-bit words) to an IP address."""
    raw = bytes.fromhex(hex_address.split(":", maxsplit=1)[0])
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    ip = ipaddress.ip_address(words)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ip)


def inet_sockets(pid: int) -> list[Socket]:
    """The TCP and UDP sockets (IPv4 and IPv6) that process ``pid`` holds open."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):  # closed meanwhile
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[len("socket:[") : -1])
    found = []
    for protocol in ("tcp", "tcp6", "udp", "udp6"):
        lines = Path(f"/proc/{pid}/net/{protocol}").read_text().splitlines()[1:]
        for line in lines:
            fields = line.split()
            if fields[9] in inodes:
                found.append(Socket(protocol, _address(fields[1]), _address(fields[2])))
    return found
