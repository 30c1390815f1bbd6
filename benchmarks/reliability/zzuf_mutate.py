"""zzuf, the external mutator of the zzuf fuzz (external_fuzz.py), driven as a byte filter: bytes in on its
stdin, mutated bytes out on its stdout, reproducible from its seed."""

from __future__ import annotations

import subprocess

ZZUF = "zzuf"


def zzuf_version() -> str:
    out = subprocess.run([ZZUF, "-V"], capture_output=True, text=True, timeout=10).stdout
    return out.splitlines()[0].strip() if out else "unknown"


def zzuf(data: bytes, seed: int, ratio: float, *, protect: str | None = None, refuse: str | None = None,
         byte_range: tuple[int, int] | None = None) -> bytes:
    """zzuf as a filter: ``data`` on its stdin, the mutated bytes on its stdout."""
    cmd = [ZZUF, "-s", str(seed), "-r", f"{ratio:g}"]
    if protect:
        cmd += ["-P", protect]
    if refuse:
        cmd += ["-R", refuse]
    if byte_range:
        cmd += ["-b", f"{byte_range[0]}-{byte_range[1]}"]
    return subprocess.run(cmd, input=data, capture_output=True, timeout=30, check=True).stdout
