"""NETCONF message framing over SSH (RFC 6242), without any I/O.

Two framings exist. NETCONF 1.0 ends every message with the marker `]]>]]>` (which is why a 1.0
message must never contain it). NETCONF 1.1 sends *chunks*, each announced by its length
(`\\n#<len>\\n<bytes>`), and ends a message with `\\n##\\n`. Hellos always use the 1.0 marker;
both sides switch to chunks after the hello only when both advertised `base:1.1`.

`Decoder` is fed whatever bytes arrived and hands back whole messages; the framing can be switched
between messages (right after the hello), even when the next message is already in the buffer.
"""

from __future__ import annotations

EOM = b"]]>]]>"
BASE_10 = "urn:ietf:params:netconf:base:1.0"
BASE_11 = "urn:ietf:params:netconf:base:1.1"
MAX_CHUNK = 4294967295  # RFC 6242: chunk-size is 1..4294967295
MAX_MESSAGE = 16 * 1024 * 1024  # a lab device never sends more; refuse to buffer beyond it


class FramingError(ValueError):
    """The peer broke the framing rules; the session must be closed."""


def encode(message: bytes, chunked: bool, chunk_size: int = 65536) -> bytes:
    """Frame one message for sending."""
    if not chunked:
        if EOM in message:
            raise FramingError("a NETCONF 1.0 message may not contain ]]>]]>")
        return message + EOM
    if not message:
        raise FramingError("a chunked message needs at least one chunk")
    parts = []
    for i in range(0, len(message), chunk_size):
        chunk = message[i:i + chunk_size]
        parts.append(b"\n#%d\n" % len(chunk) + chunk)
    return b"".join(parts) + b"\n##\n"


class Decoder:
    """Turns a byte stream into NETCONF messages, in 1.0 (EOM) or 1.1 (chunked) framing."""

    def __init__(self, chunked: bool = False) -> None:
        self.chunked = chunked
        self._buf = bytearray()

    def feed(self, data: bytes) -> None:
        self._buf += data
        if len(self._buf) > MAX_MESSAGE + 64:
            raise FramingError(f"message larger than {MAX_MESSAGE} bytes")

    def next_message(self) -> bytes | None:
        """The next whole message in the buffer, or None until more bytes arrive."""
        return self._next_chunked() if self.chunked else self._next_eom()

    def _next_eom(self) -> bytes | None:
        end = self._buf.find(EOM)
        if end < 0:
            return None
        msg = bytes(self._buf[:end])
        del self._buf[:end + len(EOM)]
        return msg.strip() if msg.strip() else self._next_eom()

    def _next_chunked(self) -> bytes | None:
        pos, parts = 0, []
        buf = self._buf
        while True:
            if len(buf) - pos < 4:
                return None
            if buf[pos:pos + 2] != b"\n#":
                raise FramingError(f"expected a chunk header, got {bytes(buf[pos:pos + 8])!r}")
            if buf[pos + 2:pos + 4] == b"#\n":
                if not parts:
                    raise FramingError("end of message before any chunk")
                del buf[:pos + 4]
                return b"".join(parts)
            eol = buf.find(b"\n", pos + 2)
            if eol < 0:
                if len(buf) - pos > 13:  # "\n#" + 10 digits + "\n" at most
                    raise FramingError("chunk size too long")
                return None
            digits = bytes(buf[pos + 2:eol])
            if not digits.isdigit() or digits.startswith(b"0") or len(digits) > 10:
                raise FramingError(f"bad chunk size {digits!r}")
            size = int(digits)
            if size > MAX_CHUNK:
                raise FramingError(f"chunk size {size} above the RFC 6242 limit")
            if len(buf) - (eol + 1) < size:
                return None
            parts.append(bytes(buf[eol + 1:eol + 1 + size]))
            pos = eol + 1 + size
