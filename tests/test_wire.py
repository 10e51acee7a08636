"""Framing: the client's decoder against the recorded byte streams, cut in every way TCP may cut them."""

from __future__ import annotations

import random

import pytest

from isabelle_env.protocol import ReplyKind, parse_reply
from isabelle_env.wire import FramingError, MessageDecoder, encode_message
from tests.isabelle_standin import recorded_stream

TRANSCRIPTS = [
    "help",
    "session_build",
    "session_start",
    "session_stop",
    "use_theories",
    "use_theories.Fail",
    "use_theories.Sledgehammer",
    "purge_theories",
    "cancel",
    "shutdown",
    "unknown",
]


def decode_all(chunks: list[bytes]) -> list[bytes]:
    decoder = MessageDecoder()
    out: list[bytes] = []
    for chunk in chunks:
        out += decoder.feed(chunk)
    assert decoder.pending is None
    return [m for m in out if m.strip()]


@pytest.mark.parametrize("name", TRANSCRIPTS)
def test_every_transcript_decodes_the_same_however_it_is_cut(transcripts, name):
    data = recorded_stream((transcripts / name).read_bytes())
    whole = decode_all([data])
    assert whole, name
    for reply in whole:  # every message is a well-formed reply
        assert parse_reply(reply).kind in ReplyKind
    bytewise = decode_all([data[i : i + 1] for i in range(len(data))])
    assert bytewise == whole
    rng = random.Random(name)
    for _ in range(20):
        cuts = sorted(rng.sample(range(1, len(data)), k=min(len(data) - 1, rng.randint(1, 12))))
        pieces = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]
        assert decode_all(pieces) == whole
    doubled = decode_all([data + data])  # several messages in one read
    assert doubled == whole + whole


def test_long_messages_are_length_framed_as_recorded(transcripts):
    data = (transcripts / "use_theories").read_bytes()
    messages = decode_all([data])
    finished = messages[-1]
    assert finished.startswith(b"FINISHED ")
    assert len(finished) == 457  # the recorded header says 458: body plus its newline
    assert encode_message(finished) == b"458\n" + finished + b"\n"
    assert data.endswith(encode_message(finished))


def test_a_message_missing_its_last_byte_stays_pending(transcripts):
    data = (transcripts / "use_theories.Sledgehammer").read_bytes()  # stored without its final newline
    decoder = MessageDecoder()
    assert [m[:8] for m in decoder.feed(data)] == [b'OK {"tas', b'NOTE {"p', b'NOTE {"p']
    assert decoder.pending == "got 2056 of 2057 announced bytes"
    assert decoder.feed(b"\n")[0].startswith(b"FINISHED {")


def test_short_messages_are_single_lines_and_crlf_is_accepted():
    assert encode_message("OK") == b"OK\n"
    assert MessageDecoder().feed(b'OK\r\nERROR "x"\r\n') == [b"OK", b'ERROR "x"']
    assert MessageDecoder().feed(b"6\r\nOK {}\n") == [b"OK {}"]


def test_messages_with_newlines_get_a_header_and_round_trip():
    text = 'echo "two\nlines"'
    framed = encode_message(text)
    assert framed.startswith(b"%d\n" % (len(text) + 1))
    assert MessageDecoder().feed(framed) == [text.encode()]


def test_framing_rejects_what_would_be_misread():
    with pytest.raises(FramingError):
        encode_message("1234")  # would read as a length header
    with pytest.raises(FramingError):
        encode_message("OK\n")


def test_partial_message_is_reported():
    decoder = MessageDecoder()
    assert decoder.feed(b"20\nFINISHED {") == []
    assert decoder.pending == "got 10 of 20 announced bytes"
    assert decoder.feed(b'"ok":1}\n') == []  # 18 of 20
    assert decoder.feed(b"x\n") == [b'FINISHED {"ok":1}\nx']


def test_reply_parsing():
    reply = parse_reply(b'OK {"task":"abc"}')
    assert reply.kind is ReplyKind.OK and reply.task_id == "abc"
    assert parse_reply(b"OK").payload is None
    assert parse_reply(b"ERROR \"Bad command 'x'\"").payload == "Bad command 'x'"
