"""GGUF variants made at test time from the default model (DESIGN.md §5): no download needed.

SmolLM2's vocabulary starts with 17 control tokens (StarCoder's). Renaming some of them gives a model whose
vocabulary holds FIM tokens in the spelling of another family; metadata such as the chat template and
general.name can be replaced too. The weights are copied as they are, so the variant loads and generates.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gguf
import numpy as np

# Control tokens of SmolLM2 that no test needs; their ids get the new texts.
SPARE_IDS = (7, 8, 9, 10, 11, 12, 13, 14, 15, 16)
REPO_TOKEN_IDS = (3, 4, 5, 6)  # <repo_name>, <reponame>, <file_sep>, <filename>

QWEN_FIM = {"<|fim_prefix|>": "fim_pre", "<|fim_suffix|>": "fim_suf", "<|fim_middle|>": "fim_mid",
            "<|repo_name|>": None, "<|file_sep|>": None}
STARCODER_FIM = {"<fim_prefix>": None, "<fim_suffix>": None, "<fim_middle>": None}
CODELLAMA_FIM = {"<PRE>": "fim_pre", "<SUF>": "fim_suf", "<MID>": "fim_mid", "<EOT>": None}
CODESTRAL_FIM = {"[PREFIX]": "fim_pre", "[SUFFIX]": "fim_suf", "[MIDDLE]": None}

MISTRAL_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token}}"
    "{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}"
)
LLAMA3_TEMPLATE = (
    "{% set loop_messages = messages %}{% for message in loop_messages %}"
    "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'"
    "+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}"
    "{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"
)


def make_variant(
    source: Path,
    dest: Path,
    *,
    name: str,
    special_tokens: dict[str, str | None] | None = None,
    chat_template: str | None = None,
    truncate_to: int | None = None,
    hide_repo_tokens: bool = False,
) -> dict[str, int]:
    """Write a copy of ``source`` with renamed control tokens and new metadata. Returns text -> id."""
    reader = gguf.GGUFReader(source)
    arch = reader.fields["general.architecture"].contents()
    writer = gguf.GGUFWriter(dest, arch)
    ids: dict[str, int] = {}
    new_tokens: dict[int, str] = {}
    if hide_repo_tokens:  # SmolLM2 has StarCoder's <repo_name>/<file_sep>; most families do not
        new_tokens.update({i: f"<unused_{i}>" for i in REPO_TOKEN_IDS})
    for slot, text in zip(SPARE_IDS, special_tokens or {}, strict=False):
        new_tokens[slot] = text
        ids[text] = slot
    overrides: dict[str, Any] = {"general.name": name}
    for text, kind in (special_tokens or {}).items():
        if kind is not None:
            overrides[f"tokenizer.ggml.{kind}_token_id"] = ids[text]
    for field in reader.fields.values():
        if field.name == "general.architecture" or field.name.startswith("GGUF."):
            continue
        if field.name in overrides:
            continue
        if field.name == "tokenizer.chat_template" and chat_template is not None:
            continue
        value_type = field.types[0]
        sub_type = field.types[-1] if value_type == gguf.GGUFValueType.ARRAY else None
        value = field.contents()
        if field.name == "tokenizer.ggml.tokens" and new_tokens:
            value = [new_tokens.get(i, tok) for i, tok in enumerate(value)]
        writer.add_key_value(field.name, value, value_type, sub_type=sub_type)
    for key, value in overrides.items():
        if isinstance(value, str):
            writer.add_string(key, value)
        else:
            writer.add_uint32(key, value)
    if chat_template is not None:
        writer.add_chat_template(chat_template)
    for tensor in reader.tensors:
        writer.add_tensor_info(tensor.name, tensor.data.shape, tensor.data.dtype, tensor.data.nbytes,
                               tensor.tensor_type)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    for tensor in reader.tensors:
        writer.write_tensor_data(np.asarray(tensor.data), tensor_endianess=reader.endianess)
    writer.close()
    if truncate_to is not None:
        with dest.open("r+b") as fh:
            fh.truncate(truncate_to)
    return ids
