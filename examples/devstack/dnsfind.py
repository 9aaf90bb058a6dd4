"""srv(name, server): the first (host, port) of an SRV lookup, with nothing but the standard
library (the registry's DNS answers A records of the targets in the additional section)."""

import random
import socket
import struct


def srv(name: str, server: str) -> tuple[str, int]:
    host, _, port = server.rpartition(":")
    ident = random.randrange(1 << 16)
    question = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
    query = struct.pack("!6H", ident, 0x0100, 1, 0, 0, 0) + question + struct.pack("!2H", 33, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(2)
        sock.sendto(query, (host, int(port)))
        reply, _ = sock.recvfrom(65535)
    counts = struct.unpack("!4H", reply[4:12])
    offset = _skip_name(reply, 12) + 4  # the question
    found_port, address = None, None
    for _ in range(counts[1] + counts[2] + counts[3]):
        offset = _skip_name(reply, offset)
        kind, _, _, length = struct.unpack("!2HIH", reply[offset : offset + 10])
        data = reply[offset + 10 : offset + 10 + length]
        if kind == 33 and found_port is None:
            found_port = struct.unpack("!H", data[4:6])[0]
        elif kind == 1 and address is None:
            address = socket.inet_ntoa(data)
        offset += 10 + length
    if found_port is None or address is None:
        raise LookupError(f"no instance of {name}")
    return address, found_port


def _skip_name(message: bytes, offset: int) -> int:
    while message[offset]:
        if message[offset] >= 0xC0:  # a pointer ends the name
            return offset + 2
        offset += message[offset] + 1
    return offset + 1
