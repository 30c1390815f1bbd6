"""LSP framing over stdio and TCP with bounded memory, and who may connect over TCP.

pygls's own reader trusts ``Content-Length``: a header of 10^14 bytes makes it allocate that much and the
process dies with MemoryError, and a header line is read whatever its length. This reader holds at most one
message of :data:`MAX_MESSAGE_BYTES` plus one read chunk. A larger message is refused without being stored
(its first bytes are kept to find its id), and the reader finds the next message by its header: a valid JSON
body can hold neither a raw CR LF inside a string nor ``Content-Length`` outside one, so the header pattern
cannot match inside a body.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import logging
import os
import queue
import re
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 128 * 1024 * 1024  # a whole document travels in didOpen; 128 MiB is far beyond source files
MAX_HEADER_BYTES = 8 * 1024
PEEK_BYTES = 4096  # of a refused message, kept to answer its id
CHUNK_BYTES = 64 * 1024

TOKEN_ENV = "CODEHEARTH_TCP_TOKEN"
TOKEN_OPTION = "tcpToken"

_HEADER_RE = re.compile(rb"Content-Length[ \t]*:[ \t]*(\d{1,20})[ \t]*\r\n", re.IGNORECASE)
_LENGTH_LINE_RE = re.compile(rb"Content-Length[ \t]*:[ \t]*(\d{1,20})[ \t]*", re.IGNORECASE)


@dataclass(frozen=True)
class Oversized:
    """A message whose declared length is over the limit: refused, never read into memory."""

    length: int
    head: bytes  # its first bytes (those already received), to answer its id when they hold it


Frame = bytes | Oversized


class FrameParser:
    """Turn a byte stream into message bodies. Feed it chunks; it returns whatever frames they complete."""

    def __init__(self, max_body: int = MAX_MESSAGE_BYTES) -> None:
        self.max_body = max_body
        self._buf = bytearray()
        self._need: int | None = None  # body length once the header is read
        self._oversized: int | None = None  # declared length of a refused message whose head we are reading
        self._resync = False  # dropping bytes until the next header
        self.dropped = 0  # bytes thrown away while resynchronising (for the log and tests)

    def feed(self, data: bytes) -> list[Frame]:
        self._buf += data
        frames: list[Frame] = []
        while True:
            frame = self._step()
            if frame is None:
                return frames
            if isinstance(frame, bytes | Oversized):
                frames.append(frame)

    def _step(self) -> Frame | bool | None:
        """One parsing step: a frame, True to go on, None to wait for more bytes."""
        buf = self._buf
        if self._resync:
            m = _HEADER_RE.search(buf)
            if m is None:
                keep = 64  # a header may be split across chunks
                if len(buf) > keep:
                    self.dropped += len(buf) - keep
                    del buf[: len(buf) - keep]
                return None
            self.dropped += m.start()
            del buf[: m.start()]
            self._resync = False
            return True
        if self._oversized is not None:
            # Its head is what has already arrived, up to the next header (the declared length may be a lie).
            if not buf:
                return None
            nxt = _HEADER_RE.search(buf, 0, PEEK_BYTES + 64)
            want = min(PEEK_BYTES, self._oversized, len(buf), nxt.start() if nxt else len(buf))
            head = bytes(buf[:want])
            del buf[:want]
            refused = Oversized(self._oversized, head)
            self._oversized = None
            self._resync = True
            return refused
        if self._need is not None:
            if len(buf) < self._need:
                return None
            body = bytes(buf[: self._need])
            del buf[: self._need]
            self._need = None
            return body
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            if len(buf) > MAX_HEADER_BYTES:
                log.warning("dropped %d bytes that are not an LSP header", len(buf))
                self._resync = True
                del buf[:1]
                return True
            return None
        length = _content_length(bytes(buf[:end]))
        if length is None:
            # Garbage before a header, or a header without Content-Length: find the next real header.
            log.warning("dropped bytes that are not an LSP header: %r", bytes(buf[: min(end, 80)]))
            self._resync = True
            del buf[:1]
            return True
        del buf[: end + 4]
        if length > self.max_body:
            log.error("refused a message of %d bytes (the limit is %d)", length, self.max_body)
            self._oversized = length
            return True
        self._need = length
        return True


def _content_length(header: bytes) -> int | None:
    lines = header.split(b"\r\n")
    length = None
    for line in lines:
        m = _LENGTH_LINE_RE.fullmatch(line)
        if m is not None:
            length = int(m.group(1))
        elif not line.lower().startswith(b"content-type"):
            return None
    return length


class FrameSink(Protocol):
    def receive_frame(self, frame: Frame) -> None: ...


async def pump(read: Callable[[], Awaitable[bytes]], sink: FrameSink, stop: threading.Event) -> None:
    """Read until end of stream (or ``stop``), handing each frame to the protocol in order."""
    parser = FrameParser()
    while not stop.is_set():
        chunk = await read()
        if not chunk:
            return
        for frame in parser.feed(chunk):
            sink.receive_frame(frame)
            await asyncio.sleep(0)  # let started handlers run between messages, as pygls's reader did
            if stop.is_set():
                return


class StdinChunks:
    """Chunks of a file descriptor, read by a daemon thread (so a blocked read never holds up exit).

    One read is outstanding at a time, so a fast client is paced by the server instead of filling memory.
    """

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._requests: queue.SimpleQueue[tuple[asyncio.AbstractEventLoop, asyncio.Future[bytes]]] = (
            queue.SimpleQueue()
        )
        self._thread = threading.Thread(target=self._run, name="codehearth-stdin", daemon=True)
        self._thread.start()

    async def read(self) -> bytes:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[bytes] = loop.create_future()
        self._requests.put((loop, fut))
        return await fut

    def _run(self) -> None:
        while True:
            loop, fut = self._requests.get()
            try:
                data = os.read(self._fd, CHUNK_BYTES)
            except OSError:
                data = b""
            try:
                loop.call_soon_threadsafe(_resolve, fut, data)
            except RuntimeError:  # the loop is closed: nobody is reading any more
                return
            if not data:
                return


def _resolve(fut: asyncio.Future[bytes], data: bytes) -> None:
    if not fut.done():
        fut.set_result(data)


# -- who may connect over TCP --------------------------------------------------------------------------


class ExposureError(ValueError):
    """The TCP address is not allowed as asked (shown to the user, who can fix the command line)."""


def is_loopback(host: str) -> bool:
    if host in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def parse_tcp(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    try:
        number = int(port)
    except ValueError:
        raise ExposureError(f"--tcp wants HOST:PORT, got {address!r}") from None
    if not 0 <= number <= 65535:
        raise ExposureError(f"--tcp port out of range: {number}")
    return host, number


def tcp_token(host: str, allow_remote: bool, environ: dict[str, str] | Any = os.environ) -> str | None:
    """The token a client must present, or None when none is needed. Raises ExposureError when the address
    is not allowed: anything but loopback needs ``--allow-remote``, and that needs a token in the environment."""
    token = environ.get(TOKEN_ENV) or None
    if not is_loopback(host):
        if not allow_remote:
            raise ExposureError(
                f"refusing to listen on {host}: only loopback addresses are served unless --allow-remote is "
                f"given (then every client must send the token from ${TOKEN_ENV} as "
                f"initializationOptions.{TOKEN_OPTION})"
            )
        if token is None:
            raise ExposureError(f"--allow-remote needs a token: set ${TOKEN_ENV} (clients send it as "
                                f"initializationOptions.{TOKEN_OPTION})")
    return token


def token_matches(expected: str, offered: Any) -> bool:
    if not isinstance(offered, str):
        return False
    return hmac.compare_digest(expected.encode("utf-8", "surrogatepass"), offered.encode("utf-8", "surrogatepass"))
