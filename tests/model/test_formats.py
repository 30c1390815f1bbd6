"""FIM and chat formats at the token level, on GGUF variants made at test time (no download)."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.gguf_factory import (
    CODELLAMA_FIM,
    CODESTRAL_FIM,
    LLAMA3_TEMPLATE,
    MISTRAL_TEMPLATE,
    QWEN_FIM,
    STARCODER_FIM,
    make_variant,
)

from codehearth.config import EngineSettings
from codehearth.engine.base import ChatMessage, GenerationRequest
from codehearth.engine.llama import LlamaEngine
from codehearth.engine.templates import OtherFile, fim_prompt, prompt_text

PREFIX = "def area(r):\n"
SUFFIX = "\n    return result\n"
MIDDLE = "    result = "


@pytest.fixture(scope="module")
def variants(default_model: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, dict[str, int]]]:
    folder = tmp_path_factory.mktemp("gguf")
    made = {}
    for key, name, tokens, template, hide in [
        ("qwen", "Qwen2.5 Coder Test", QWEN_FIM, None, True),
        ("starcoder", "StarCoder Test", STARCODER_FIM, None, False),
        ("codellama", "CodeLlama Test", CODELLAMA_FIM, None, True),
        ("codestral", "Codestral Test", CODESTRAL_FIM, MISTRAL_TEMPLATE, True),
        ("llama3", "Llama 3 Chat Test", None, LLAMA3_TEMPLATE, True),
    ]:
        path = folder / f"{key}.gguf"
        ids = make_variant(default_model, path, name=name, special_tokens=tokens, chat_template=template,
                           hide_repo_tokens=hide)
        made[key] = (path, ids)
    return made


def load(path: Path) -> LlamaEngine:
    return LlamaEngine(path, EngineSettings(n_ctx=512, separate_explain_context=False))


def test_psm_with_repository_tokens(variants: dict) -> None:  # type: ignore[type-arg]
    path, ids = variants["qwen"]
    engine = load(path)
    try:
        info = engine.info
        assert info.fim_style == "psm"
        assert (info.fim_prefix.id, info.fim_suffix.id, info.fim_middle.id) == (
            ids["<|fim_prefix|>"], ids["<|fim_suffix|>"], ids["<|fim_middle|>"])
        assert info.file_sep is not None and info.file_sep.id == ids["<|file_sep|>"]
        assert info.repo_name is not None and info.repo_name.id == ids["<|repo_name|>"]
        pieces = fim_prompt(info, prefix=PREFIX, suffix=SUFFIX, middle_start=MIDDLE, path="geo.py",
                            other_files=[OtherFile("consts.py", "PI = 3.14159")], repo="demo")
        tokens = engine.prompt_tokens(pieces, add_bos=False)
        tok = engine.tokenize
        expected = (
            [ids["<|repo_name|>"], *tok("demo\n"), ids["<|file_sep|>"], *tok("consts.py\nPI = 3.14159\n"),
             ids["<|file_sep|>"], *tok("geo.py\n"), ids["<|fim_prefix|>"], *tok(PREFIX),
             ids["<|fim_suffix|>"], *tok(SUFFIX), ids["<|fim_middle|>"], *tok(MIDDLE)]
        )
        assert tokens == expected
        # The variant is a working model: it generates after the middle token.
        result = engine.generate(GenerationRequest(prompt=pieces, max_tokens=3))
        assert result.timings.tokens_generated >= 1 or result.stop_reason == "eos"
    finally:
        engine.close()


def test_psm_detected_from_token_texts_alone(variants: dict) -> None:  # type: ignore[type-arg]
    path, ids = variants["starcoder"]
    engine = load(path)
    try:
        info = engine.info
        assert info.fim_style == "psm"
        assert info.fim_prefix.id == ids["<fim_prefix>"] and info.fim_middle.id == ids["<fim_middle>"]
        # SmolLM2's own <file_sep>/<repo_name> control tokens are StarCoder's: used for other files.
        assert info.file_sep is not None and info.file_sep.text == "<file_sep>"
        tokens = engine.prompt_tokens(fim_prompt(info, prefix=PREFIX, suffix=SUFFIX, middle_start=MIDDLE), False)
        tok = engine.tokenize
        assert tokens == [ids["<fim_prefix>"], *tok(PREFIX), ids["<fim_suffix>"], *tok(SUFFIX),
                          ids["<fim_middle>"], *tok(MIDDLE)]
    finally:
        engine.close()


def test_codellama_psm(variants: dict) -> None:  # type: ignore[type-arg]
    path, ids = variants["codellama"]
    engine = load(path)
    try:
        info = engine.info
        assert info.fim_style == "psm" and info.family == "codellama"
        assert info.file_sep is None  # no repository tokens: other files become comments
        pieces = fim_prompt(info, prefix=PREFIX, suffix=SUFFIX, middle_start=MIDDLE, path="geo.py",
                            language="python")
        tokens = engine.prompt_tokens(pieces, add_bos=False)
        tok = engine.tokenize
        assert tokens == [ids["<PRE>"], *tok("# Path: geo.py\n" + PREFIX), ids["<SUF>"], *tok(SUFFIX),
                          ids["<MID>"], *tok(MIDDLE)]
    finally:
        engine.close()


def test_codestral_is_suffix_first(variants: dict) -> None:  # type: ignore[type-arg]
    path, ids = variants["codestral"]
    engine = load(path)
    try:
        info = engine.info
        assert info.fim_style == "spm" and info.family == "codestral"
        tokens = engine.prompt_tokens(fim_prompt(info, prefix=PREFIX, suffix=SUFFIX, middle_start=MIDDLE), False)
        tok = engine.tokenize
        assert tokens == [ids["[SUFFIX]"], *tok(SUFFIX), ids["[PREFIX]"], *tok(PREFIX + MIDDLE)]
    finally:
        engine.close()


def test_control_token_text_in_code_stays_text(variants: dict) -> None:  # type: ignore[type-arg]
    path, ids = variants["qwen"]
    engine = load(path)
    try:
        tokens = engine.prompt_tokens(["x = '<|fim_middle|>'"], add_bos=False)
        assert ids["<|fim_middle|>"] not in tokens
    finally:
        engine.close()


MESSAGES = [ChatMessage("system", "Be brief."), ChatMessage("user", "What is 2+2?")]


def test_mistral_instruct_chat_template(variants: dict) -> None:  # type: ignore[type-arg]
    engine = load(variants["codestral"][0])
    try:
        text = prompt_text(engine.chat_prompt(MESSAGES))
        # Mistral's template has no system role: the system text is folded into the first user turn.
        assert text == f"{engine.info.bos}[INST] Be brief.\n\nWhat is 2+2? [/INST]"
    finally:
        engine.close()


def test_llama3_chat_template(variants: dict) -> None:  # type: ignore[type-arg]
    engine = load(variants["llama3"][0])
    try:
        text = prompt_text(engine.chat_prompt(MESSAGES))
        bos = engine.info.bos
        assert text == (
            f"{bos}<|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\n"
        )
        assert engine.info.fim_style == "none"
    finally:
        engine.close()


def test_smollm2_real_chat_template(engine: LlamaEngine) -> None:
    pieces = engine.chat_prompt(MESSAGES)
    text = prompt_text(pieces)
    assert text == (
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n"
    )
    assert pieces[0].id == 1  # <|im_start|> is one control token, not text
    reply = engine.generate(GenerationRequest(prompt=pieces, max_tokens=16, purpose="chat", add_bos=False))
    assert reply.text.strip()
