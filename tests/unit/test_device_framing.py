"""NETCONF framing (RFC 6242): both framings round-trip whatever way the bytes arrive."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from labkit.devices.framing import EOM, Decoder, FramingError, encode

messages = st.binary(min_size=1, max_size=3000).filter(lambda m: EOM not in m and m.strip())


def feed_in_pieces(decoder: Decoder, data: bytes, cuts: list[int]) -> list[bytes]:
    out, last = [], 0
    for cut in sorted({min(c, len(data)) for c in cuts} | {len(data)}):
        decoder.feed(data[last:cut])
        last = cut
        while (msg := decoder.next_message()) is not None:
            out.append(msg)
    return out


@given(st.lists(messages, min_size=1, max_size=5), st.integers(1, 700),
       st.lists(st.integers(0, 20000), max_size=12))
def test_chunked_round_trip_in_any_pieces(msgs, chunk_size, cuts):
    stream = b"".join(encode(m, chunked=True, chunk_size=chunk_size) for m in msgs)
    assert feed_in_pieces(Decoder(chunked=True), stream, cuts) == msgs


@given(st.lists(messages, min_size=1, max_size=5), st.lists(st.integers(0, 20000), max_size=12))
def test_eom_round_trip_in_any_pieces(msgs, cuts):
    stream = b"".join(encode(m, chunked=False) for m in msgs)
    assert feed_in_pieces(Decoder(), stream, cuts) == [m.strip() for m in msgs]


def test_switch_to_chunks_after_the_hello_with_the_next_message_already_buffered():
    d = Decoder()
    d.feed(encode(b"<hello/>", False) + encode(b"<rpc/>", True))
    assert d.next_message() == b"<hello/>"
    d.chunked = True
    assert d.next_message() == b"<rpc/>"
    assert d.next_message() is None


def test_the_rfc_example_decodes():
    d = Decoder(chunked=True)
    d.feed(b"\n#4\n<rpc\n#18\n message-id=\"102\"\n\n#79\n" + b"x" * 79 + b"\n##\n")
    assert d.next_message() == b"<rpc message-id=\"102\"\n" + b"x" * 79


@pytest.mark.parametrize("bad", [b"\n#0\nx\n##\n", b"\n#01\nx\n##\n", b"\n#x\n", b"junk\n#1\n",
                                 b"\n##\n", b"\n#-1\nx", b"\n#12345678901\n"])
def test_broken_chunk_framing_is_refused(bad):
    d = Decoder(chunked=True)
    d.feed(bad)
    with pytest.raises(FramingError):
        d.next_message()


def test_a_1_0_message_may_not_contain_the_end_marker():
    with pytest.raises(FramingError):
        encode(b"<a>]]>]]></a>", chunked=False)


def test_an_oversized_message_is_refused_before_it_fills_memory():
    d = Decoder()
    with pytest.raises(FramingError):
        for _ in range(20):
            d.feed(b"x" * (1 << 20))
