"""Which local process made a TCP connection: its socket's inode, asked of the kernel's
sock_diag netlink interface (or, where that is missing, found in /proc/net/tcp{,6}), then the
process holding that socket among the /proc/<pid>/fd links. `SocketOwners` asks for many
connections at once, from one thread."""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import os
import socket
import struct
from collections.abc import Iterable

from pilot.process.sockets import socket_holders, socket_rows
from pilot.process.threads import in_thread

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Connection = tuple[tuple[str, int], tuple[str, int]]  # (client address, server address)

NETLINK_SOCK_DIAG = 4
SOCK_DIAG_BY_FAMILY = 20
NLM_F_REQUEST = 1
NLMSG_ERROR = 2
NO_COOKIE = 0xFFFFFFFF
ALL_STATES = 0xFFFFFFFF
# struct nlmsghdr, then struct inet_diag_msg: family, state, timer, retrans, inet_diag_sockid
# (48 bytes), expires, rqueue, wqueue, uid, inode
INODE_OFFSET = 16 + 4 + 48 + 4 * 4


class SocketOwners:
    """Finds the process that made each connection asked about, all those asked meanwhile in
    one look-up on one thread: a flood of connections costs one thread walking /proc, not one
    each (threads that contend for the GIL by the hundred starve the event loop, and with it
    pilot's health checks)."""

    def __init__(self) -> None:
        self._asked: dict[Connection, list[asyncio.Future[int | None]]] = {}
        self._busy = False

    async def owner(self, client: tuple[str, int], server: tuple[str, int]) -> int | None:
        """The pid of the local process whose socket connects `client` to `server` (see
        `socket_owners`); cancelling the wait leaves the look-up to the others."""
        answer: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()
        self._asked.setdefault((client, server), []).append(answer)
        if not self._busy:
            self._look_up()
        return await answer

    def _look_up(self) -> None:
        batch, self._asked = self._asked, {}
        self._busy = True
        work = in_thread(lambda: socket_owners(batch), "traffic-peer")
        work.add_done_callback(lambda done: self._answer(batch, done))

    def _answer(
        self,
        batch: dict[Connection, list[asyncio.Future[int | None]]],
        done: asyncio.Future[dict[Connection, int]],
    ) -> None:
        self._busy = False
        error = done.exception()
        for connection, answers in batch.items():
            for answer in answers:
                if answer.done():
                    continue
                if error is not None:
                    answer.set_exception(error)
                else:
                    answer.set_result(done.result().get(connection))
        if self._asked:
            self._look_up()


def socket_owner(client: tuple[str, int], server: tuple[str, int]) -> int | None:
    """The pid of a local process whose TCP socket has local address `client` and remote
    address `server` (the first found, when several share it); None when there is none or
    /proc does not show it (another network namespace, a process we may not inspect)."""
    return socket_owners([(client, server)]).get((client, server))


def socket_owners(connections: Iterable[Connection]) -> dict[Connection, int]:
    """The pid of a local process holding the client's end of each of `connections` (those
    found); see `socket_owner`.

    Cost: each socket is looked up by its addresses in one netlink exchange (tens of µs);
    where sock_diag is missing, both /proc/net/tcp tables are read whole (about 1 ms each, more
    with many sockets). Then the fd links of every process are read, once for all, until each
    socket is found: about 1 ms for 70 processes and 300 open files, more on a desktop with
    thousands. Call it from a thread."""
    inodes: dict[Connection, int] = {}
    for client, server in connections:
        local, remote = _address(client[0]), _address(server[0])
        try:
            inode = _diag_inode((local, client[1]), (remote, server[1]))
        except OSError:
            inode = _proc_inode((local, client[1]), (remote, server[1]))
        if inode is not None:
            inodes[(client, server)] = inode
    holders = socket_holders(set(inodes.values()))
    return {connection: holders[inode] for connection, inode in inodes.items() if inode in holders}


def _address(host: str) -> Address:
    """`host` as an address, an IPv4-mapped IPv6 one (a dual-stack socket's) as IPv4."""
    address = ipaddress.ip_address(host.split("%", 1)[0])
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _diag_inode(local: tuple[Address, int], remote: tuple[Address, int]) -> int | None:
    """The inode of the TCP socket from `local` to `remote`, asked of sock_diag (None when it
    has none, or no process holds it any more).

    Raises:
        OSError: sock_diag cannot be asked.
    """
    family = socket.AF_INET if local[0].version == remote[0].version == 4 else socket.AF_INET6

    def packed(address: Address) -> bytes:
        if family == socket.AF_INET6 and isinstance(address, ipaddress.IPv4Address):
            address = ipaddress.IPv6Address(b"\0" * 10 + b"\xff\xff" + address.packed)
        return address.packed.ljust(16, b"\0")

    sockid = struct.pack("!HH16s16s", local[1], remote[1], packed(local[0]), packed(remote[0]))
    request = (
        struct.pack("=BBBBI", family, socket.IPPROTO_TCP, 0, 0, ALL_STATES)
        + sockid
        + struct.pack("=III", 0, NO_COOKIE, NO_COOKIE)
    )
    header = struct.pack("=IHHII", 16 + len(request), SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST, 1, 0)
    with socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_SOCK_DIAG) as sock:
        sock.settimeout(1.0)
        sock.sendto(header + request, (0, 0))
        reply = sock.recv(65536)
    (kind,) = struct.unpack_from("=H", reply, 4)
    if kind == NLMSG_ERROR:
        (code,) = struct.unpack_from("=i", reply, 16)
        if code == -errno.ENOENT:
            return None
        raise OSError(-code, os.strerror(-code))
    (inode,) = struct.unpack_from("=I", reply, INODE_OFFSET)
    return int(inode) or None


def _proc_inode(local: tuple[Address, int], remote: tuple[Address, int]) -> int | None:
    """The inode of the TCP socket from `local` to `remote`, from /proc/net/tcp and tcp6."""
    here, there = _proc_forms(*local), _proc_forms(*remote)
    for table in ("tcp", "tcp6"):
        if table in here and table in there:
            for mine, theirs, inode in socket_rows(table):
                if (mine, theirs) == (here[table], there[table]):
                    return inode
    return None


def _proc_forms(address: Address, port: int) -> dict[str, str]:
    """How /proc/net/tcp and tcp6 write `address` and `port`: each 32-bit word of the address
    in hex in the host's byte order, `:`, the port in hex. An IPv4 address is in tcp6 as
    IPv4-mapped (a dual-stack socket's); an IPv6 one only there."""
    forms = {}
    if isinstance(address, ipaddress.IPv4Address):
        forms["tcp"] = f"{_words(address.packed)}:{port:04X}"
        address = ipaddress.IPv6Address(b"\0" * 10 + b"\xff\xff" + address.packed)
    forms["tcp6"] = f"{_words(address.packed)}:{port:04X}"
    return forms


def _words(packed: bytes) -> str:
    return "".join(f"{word:08X}" for (word,) in struct.iter_unpack("=I", packed))
