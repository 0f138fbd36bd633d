"""The kernel's NFQUEUE, spoken over netlink: packets an iptables rule hands to a queue wait there
until a program gives each its verdict.

This kernel has no `sch_netem` (tc's delay), but it has `xt_NFQUEUE` and `nfnetlink_queue`: a
packet queued by the `NFQUEUE` target stays in the kernel, untouched and unsent, until the
program bound to its queue says ACCEPT (or DROP). Saying it later is a delay. Only the packet's
id travels to the program (copy mode META), never its bytes.

The wire format is nfnetlink's (include/uapi/linux/netfilter/nfnetlink_queue.h): a netlink
header, a `nfgenmsg` whose `res_id` is the queue number (big-endian), then attributes. Written
out here (a few structs) rather than taken from a C binding that needs a compiler at set-up.
"""

from __future__ import annotations

import errno
import socket
import struct
from collections.abc import Iterator

NETLINK_NETFILTER = 12
NFNL_SUBSYS_QUEUE = 3
MSG_PACKET, MSG_VERDICT, MSG_CONFIG = 0, 1, 2
CFG_CMD, CFG_PARAMS, CFG_QUEUE_MAXLEN = 1, 2, 3
CMD_BIND = 1
COPY_META = 1
PACKET_HDR, VERDICT_HDR = 1, 2
NF_DROP, NF_ACCEPT = 0, 1
NLM_F_REQUEST, NLM_F_ACK = 1, 4
NLMSG_ERROR = 2
_NLMSG = struct.Struct("=IHHII")  # length, type, flags, sequence, port id
_NFGEN = struct.Struct("=BBH")  # family, version, res_id (big-endian: packed by hand)
_ATTR = struct.Struct("=HH")  # length, type


def _attr(kind: int, payload: bytes) -> bytes:
    body = _ATTR.pack(_ATTR.size + len(payload), kind) + payload
    return body + b"\0" * (-len(body) % 4)


def message(msg: int, queue: int, attrs: bytes, seq: int = 0, ack: bool = False,
            family: int = socket.AF_UNSPEC) -> bytes:
    """One nfnetlink message to the queue subsystem."""
    body = struct.pack("=BB", family, 0) + struct.pack("!H", queue) + attrs
    flags = NLM_F_REQUEST | (NLM_F_ACK if ack else 0)
    return _NLMSG.pack(_NLMSG.size + len(body), (NFNL_SUBSYS_QUEUE << 8) | msg, flags, seq,
                       0) + body


def bind_messages(queue: int, maxlen: int) -> list[bytes]:
    """Bind `queue` to this socket and ask for metadata only, with room for `maxlen` packets."""
    return [
        message(MSG_CONFIG, queue, _attr(CFG_CMD, struct.pack("!BxH", CMD_BIND, socket.AF_INET)),
                seq=1, ack=True),
        message(MSG_CONFIG, queue, _attr(CFG_PARAMS, struct.pack("!IB", 0, COPY_META)),
                seq=2, ack=True),
        message(MSG_CONFIG, queue, _attr(CFG_QUEUE_MAXLEN, struct.pack("!I", maxlen)),
                seq=3, ack=True),
    ]


def verdict(queue: int, packet_id: int, accept: bool = True) -> bytes:
    return message(MSG_VERDICT, queue,
                   _attr(VERDICT_HDR, struct.pack("!II", NF_ACCEPT if accept else NF_DROP,
                                                  packet_id)))


def parse(data: bytes) -> Iterator[tuple[int, int | None, int]]:
    """(queue, packet id, error) for each netlink message in `data`: a queued packet gives its
    queue and id with error 0; an acknowledgement or error gives (0, None, -errno or 0)."""
    at = 0
    while at + _NLMSG.size <= len(data):
        length, kind, _flags, _seq, _pid = _NLMSG.unpack_from(data, at)
        if length < _NLMSG.size:
            return
        body = data[at + _NLMSG.size:at + length]
        at += (length + 3) & ~3
        if kind == NLMSG_ERROR:
            yield 0, None, struct.unpack_from("=i", body)[0]
        elif kind == (NFNL_SUBSYS_QUEUE << 8) | MSG_PACKET and len(body) >= _NFGEN.size:
            queue = struct.unpack_from("!H", body, 2)[0]
            yield queue, _packet_id(body[_NFGEN.size:]), 0


def _packet_id(attrs: bytes) -> int | None:
    at = 0
    while at + _ATTR.size <= len(attrs):
        length, kind = _ATTR.unpack_from(attrs, at)
        if length < _ATTR.size:
            return None
        if kind & 0x3FFF == PACKET_HDR:
            return struct.unpack_from("!I", attrs, at + _ATTR.size)[0]
        at += (length + 3) & ~3
    return None


class Queues:
    """A netlink socket bound to some NFQUEUE numbers of the network namespace it was made in."""

    def __init__(self, queues: list[int], maxlen: int = 10_000) -> None:
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.sock.bind((0, 0))
        for queue in queues:
            for msg in bind_messages(queue, maxlen):
                self.sock.send(msg)
                self._expect_ack(queue)

    def _expect_ack(self, queue: int) -> None:
        for _queue, _id, error in parse(self.sock.recv(65536)):
            if error < 0:
                raise OSError(-error, f"NFQUEUE {queue}: {errno.errorcode.get(-error, error)} "
                                      "(another program holds this queue?)")

    def fileno(self) -> int:
        return self.sock.fileno()

    def receive(self) -> list[tuple[int, int]]:
        """The (queue, packet id) of every packet waiting on the socket now (may be none). A
        socket buffer that overflowed loses only notices: those packets wait in the kernel until
        the queue's limit drops them, as a full netem queue would."""
        try:
            data = self.sock.recv(1 << 20, socket.MSG_DONTWAIT)
        except BlockingIOError:
            return []
        except OSError as exc:
            if exc.errno == errno.ENOBUFS:
                return []
            raise
        return [(q, pid) for q, pid, _error in parse(data) if pid is not None]

    def release(self, queue: int, packet_id: int, accept: bool = True) -> None:
        self.sock.send(verdict(queue, packet_id, accept))

    def close(self) -> None:
        self.sock.close()
