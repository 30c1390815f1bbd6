"""LSP framing with bounded memory, and the TCP exposure rules (lsp/transport.py)."""

from __future__ import annotations

import pytest

from codehearth.lsp.transport import (
    TOKEN_ENV,
    ExposureError,
    FrameParser,
    Oversized,
    is_loopback,
    parse_tcp,
    tcp_token,
    token_matches,
)


def frame(body: bytes) -> bytes:
    return b"Content-Length: %d\r\n\r\n%s" % (len(body), body)


def test_frames_split_anywhere() -> None:
    stream = frame(b'{"a":1}') + frame(b'{"b":2}') + b"Content-Length: 3\r\nContent-Type: x\r\n\r\n[1]"
    for size in (1, 2, 5, 1000):
        parser = FrameParser()
        got = []
        for i in range(0, len(stream), size):
            got.extend(parser.feed(stream[i : i + size]))
        assert got == [b'{"a":1}', b'{"b":2}', b"[1]"]


def test_absurd_length_is_refused_without_reading_it() -> None:
    parser = FrameParser(max_body=1000)
    head = b'{"jsonrpc":"2.0","id":7,"method":"x"}'
    got = parser.feed(b"Content-Length: 100000000000000\r\n\r\n" + head + frame(b"{}"))
    assert got == [Oversized(100000000000000, head), b"{}"]
    assert len(parser._buf) == 0


def test_an_honest_large_message_is_skipped_and_the_next_one_read() -> None:
    parser = FrameParser(max_body=100)
    big = b'{"jsonrpc":"2.0","method":"x","params":"' + b"Content-Length: 5 " * 1000 + b'"}'
    got = []
    stream = frame(big) + frame(b"[2]")
    for i in range(0, len(stream), 64):
        got.extend(parser.feed(stream[i : i + 64]))
        assert len(parser._buf) <= 64 + 100 + 64  # never holds the refused body
    assert isinstance(got[0], Oversized) and got[0].length == len(big)
    assert got[1:] == [b"[2]"]


def test_garbage_before_a_header_is_dropped() -> None:
    parser = FrameParser()
    assert parser.feed(b"hello\r\n\r\n" + frame(b"[1]")) == [b"[1]"]
    assert parser.feed(b"x" * 20000 + frame(b"[2]")) == [b"[2]"]
    assert parser.feed(b"{}" + frame(b"[3]")) == [b"[3]"]


def test_endless_header_line_is_bounded() -> None:
    parser = FrameParser()
    for _ in range(100):
        assert parser.feed(b"y" * 10000) == []
        assert len(parser._buf) <= 10064
    assert parser.feed(frame(b"[4]")) == [b"[4]"]


def test_zero_length_body_is_an_empty_frame() -> None:
    assert FrameParser().feed(b"Content-Length: 0\r\n\r\n") == [b""]


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1", True), ("127.5.5.5", True), ("::1", True), ("[::1]", True), ("localhost", True),
    ("0.0.0.0", False), ("::", False), ("192.168.1.4", False), ("example.com", False),
])
def test_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_tcp_exposure_rules() -> None:
    assert parse_tcp("127.0.0.1:2087") == ("127.0.0.1", 2087)
    assert parse_tcp(":2087") == ("127.0.0.1", 2087)
    assert parse_tcp("[::1]:2087") == ("::1", 2087)
    with pytest.raises(ExposureError, match="HOST:PORT"):
        parse_tcp("127.0.0.1:http")
    assert tcp_token("127.0.0.1", allow_remote=False, environ={}) is None
    assert tcp_token("127.0.0.1", allow_remote=False, environ={TOKEN_ENV: "s3"}) == "s3"  # honoured on loopback too
    with pytest.raises(ExposureError, match="only loopback addresses are served unless --allow-remote"):
        tcp_token("0.0.0.0", allow_remote=False, environ={TOKEN_ENV: "s3"})
    with pytest.raises(ExposureError, match=f"--allow-remote needs a token: set \\${TOKEN_ENV}"):
        tcp_token("0.0.0.0", allow_remote=True, environ={})
    assert tcp_token("0.0.0.0", allow_remote=True, environ={TOKEN_ENV: "s3"}) == "s3"


def test_token_comparison() -> None:
    assert token_matches("s3cret", "s3cret")
    assert not token_matches("s3cret", "s3cre")
    assert not token_matches("s3cret", None)
    assert not token_matches("s3cret", 42)
    assert not token_matches("s3cret", "\ud800")
