"""Prompt formats: fill-in-the-middle layouts per model family, and chat formatting from the GGUF's template.

FIM prompts are built as pieces (text and control tokens), never as one string for the library to parse: the
library's ``suffix=`` path puts wrong token ids in (DESIGN.md §4), and control-token text inside user code must
never turn into a control token.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from codehearth.engine.base import ChatMessage, FimStyle, ModelInfo, PromptPiece, SpecialToken

# Texts by which llama.cpp itself recognises FIM and repository tokens in a vocabulary.
FIM_PREFIX_TEXTS = ("<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<PRE>", "▁<PRE>", "[PREFIX]")
FIM_SUFFIX_TEXTS = ("<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<SUF>", "▁<SUF>", "[SUFFIX]")
FIM_MIDDLE_TEXTS = ("<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<MID>", "▁<MID>", "[MIDDLE]")
REPO_NAME_TEXTS = ("<|repo_name|>", "<repo_name>", "<reponame>")
FILE_SEP_TEXTS = ("<|file_sep|>", "<file_sep>", "<filename>")
SUFFIX_FIRST_FAMILIES = ("codestral",)
MISTRAL_PREFIX = "[PREFIX]"

LINE_COMMENT = {
    "python": "#",
    "ruby": "#",
    "shell": "#",
    "bash": "#",
    "toml": "#",
    "yaml": "#",
    "lua": "--",
    "sql": "--",
    "haskell": "--",
}


def line_comment(language: str | None) -> str:
    return LINE_COMMENT.get(language or "", "//")


def detect_fim_style(prefix_text: str | None, model_name: str, explicit: str | None = None) -> FimStyle:
    """Metadata first: an explicit style, then the token texts; the model name only as a hint."""
    if explicit in ("psm", "spm"):
        return explicit  # type: ignore[return-value]
    if prefix_text is None:
        return "none"
    if prefix_text == MISTRAL_PREFIX:  # Mistral's FIM tokens (Codestral) are trained suffix-first
        return "spm"
    if any(hint in model_name.lower() for hint in SUFFIX_FIRST_FAMILIES):
        return "spm"
    return "psm"


@dataclass(frozen=True)
class OtherFile:
    """A snippet of another workspace file shown to the model."""

    path: str
    text: str


def fim_prompt(
    info: ModelInfo,
    *,
    prefix: str,
    suffix: str,
    middle_start: str = "",
    path: str = "",
    language: str | None = None,
    other_files: Sequence[OtherFile] = (),
    repo: str = "",
) -> list[PromptPiece]:
    """The prompt for completing at the cursor, stable parts first so the KV cache survives keystrokes.

    ``prefix`` is the text above the cursor's line, ``middle_start`` the typed part of the cursor's line and
    ``suffix`` the rest. With a FIM model the typed part goes after the middle token (the middle has begun):
    typing then only appends tokens, instead of changing the prefix and re-evaluating the whole suffix.
    """
    if not info.has_fim:
        return [_header_text(info, path, language, other_files) + prefix + middle_start]
    assert info.fim_prefix is not None and info.fim_suffix is not None
    pieces: list[PromptPiece] = []
    if info.file_sep is not None:
        if info.repo_name is not None and repo:
            pieces += [info.repo_name, repo + "\n"]
        for other in other_files:
            pieces += [info.file_sep, f"{other.path}\n{other.text.rstrip()}\n"]
        if path:
            pieces += [info.file_sep, path + "\n"]
        body_prefix = prefix
    else:
        body_prefix = _header_text(info, path, language, other_files) + prefix
    if info.fim_style == "spm":
        if info.fim_prefix.text == MISTRAL_PREFIX or info.fim_middle is None:
            # Mistral (Codestral): [SUFFIX]suffix[PREFIX]prefix, and generation continues the prefix.
            pieces += [info.fim_suffix, suffix, info.fim_prefix, body_prefix + middle_start]
        else:  # CodeLlama's suffix-first variant: <PRE><SUF>suffix<MID>prefix
            pieces += [info.fim_prefix, info.fim_suffix, suffix, info.fim_middle, body_prefix + middle_start]
        return _drop_empty(pieces)
    assert info.fim_middle is not None
    pieces += [info.fim_prefix, body_prefix, info.fim_suffix, suffix, info.fim_middle, middle_start]
    return _drop_empty(pieces)


def _header_text(info: ModelInfo, path: str, language: str | None, other_files: Sequence[OtherFile]) -> str:
    """Other files as comments, for models without file-separator tokens."""
    comment = line_comment(language)
    lines: list[str] = []
    for other in other_files:
        lines.append(f"{comment} Path: {other.path}")
        lines += [f"{comment} {line}".rstrip() for line in other.text.rstrip().splitlines()]
    if path:
        lines.append(f"{comment} Path: {path}")
    return "\n".join(lines) + "\n" if lines else ""


def _drop_empty(pieces: list[PromptPiece]) -> list[PromptPiece]:
    return [p for p in pieces if not (isinstance(p, str) and p == "")]


def prompt_text(pieces: Sequence[PromptPiece]) -> str:
    """The prompt as plain text (for text-based remote servers and for display)."""
    return "".join(p.text if isinstance(p, SpecialToken) else p for p in pieces)


def render_chat(
    template: str | None, messages: Sequence[ChatMessage], bos: str = "", eos: str = ""
) -> str:
    """Apply the model's own chat template (Jinja, as in the GGUF) and open the assistant turn."""
    if not template:
        # No template in the file: a plain transcript is still a usable instruction prompt.
        parts = [f"{m.role.capitalize()}: {m.content}" for m in messages]
        return "\n\n".join(parts) + "\n\nAssistant:"
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    formatter = Jinja2ChatFormatter(template=template, eos_token=eos, bos_token=bos)
    msgs: list[dict[str, str]] = [{"role": m.role, "content": m.content} for m in messages]
    try:
        return formatter(messages=msgs).prompt  # type: ignore[arg-type]
    except Exception:
        # Templates such as Mistral's raise on a system turn: fold it into the first user turn and retry.
        if len(msgs) < 2 or msgs[0]["role"] != "system":
            raise
        system = msgs.pop(0)["content"]
        msgs[0] = {"role": msgs[0]["role"], "content": f"{system}\n\n{msgs[0]['content']}"}
        return formatter(messages=msgs).prompt  # type: ignore[arg-type]
