"""What the installed llama.cpp build offers (for `codehearth doctor`)."""

from __future__ import annotations

from typing import Any


def gpu_offload_supported() -> bool:
    try:
        import llama_cpp

        return bool(llama_cpp.llama_supports_gpu_offload())
    except Exception:  # pragma: no cover - library missing or too old
        return False


def llama_cpp_version() -> str:
    try:
        import llama_cpp

        return str(llama_cpp.__version__)
    except Exception:  # pragma: no cover
        return "not installed"


def system_info() -> dict[str, Any]:
    info: dict[str, Any] = {"llamaCppPython": llama_cpp_version(), "gpuOffload": gpu_offload_supported()}
    try:
        import llama_cpp

        info["system"] = llama_cpp.llama_print_system_info().decode(errors="replace").strip()
    except Exception:  # pragma: no cover
        pass
    return info
