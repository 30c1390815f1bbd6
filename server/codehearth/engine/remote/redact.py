"""Secrets out of every prompt that leaves the machine: one table of patterns, one pass, a count per kind.

The index already keeps secret *files* (.env, keys, credentials) out of prompts; this pass catches secrets that sit in
ordinary source (a key pasted into a test, a connection string in a settings module) on their way to a remote server.

Every pattern is linear in the length of the text: fixed literal anchors, bounded repetitions, no nested or adjacent
unbounded quantifiers that could backtrack into each other (each is tested against 1 MB adversarial lines).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class SecretPattern:
    name: str
    regex: re.Pattern[str]
    group: str | int = 0  # the part replaced: the whole match, or just the secret after its key
    # A match this says is not a secret is left as it is. It sees only the match (bounded), so it keeps the pass linear.
    not_secret: Callable[[re.Match[str]], bool] | None = None


def _p(
    name: str,
    pattern: str,
    group: str | int = 0,
    flags: int = 0,
    not_secret: Callable[[re.Match[str]], bool] | None = None,
) -> SecretPattern:
    return SecretPattern(name, re.compile(pattern, flags), group, not_secret)


# The last secret word of a variable name; what follows it says what the variable holds.
_SECRET_WORD = re.compile(r"PASSW(?:OR)?D|SECRET|TOKEN|API_?KEY")
# Words after the secret word that make the variable *about* the secret, not the secret: PASSWORD_MIN_LENGTH = 12,
# PASSWORD_HASHER = argon2, API_KEY_ENV = OPENAI_API_KEY, TOKEN_TTL = 3600. IZER(S) is the rest of TOKENIZER. Words
# that still name a secret (DB_PASSWORD, SECRET_KEY, TOKEN_SECRET, PASSWORD_HASH) are not here.
_NOT_SECRET_WORDS = frozenset({
    "MIN", "MAX", "MINIMUM", "MAXIMUM", "LEN", "LENGTH", "SIZE", "COUNT", "LIMIT", "ROUNDS", "ITERATIONS", "BITS",
    "BYTES", "TIMEOUT", "TTL", "EXPIRY", "EXPIRES", "EXPIRE", "EXPIRATION", "LIFETIME", "AGE", "SECONDS", "MINUTES",
    "HOURS", "DAYS", "FIELD", "FIELDS", "COLUMN", "LABEL", "PROMPT", "HELP", "HINT", "PLACEHOLDER", "HASHER",
    "HASHERS", "VALIDATOR", "VALIDATORS", "VALIDATION", "POLICY", "PATTERN", "REGEX", "ALGORITHM", "ALGORITHMS",
    "BACKEND", "CLASS", "TYPE", "KIND", "FORMAT", "SCHEME", "GENERATOR", "ENV", "VAR", "NAME", "PATH", "FILE", "DIR",
    "URL", "URI", "ENDPOINT", "HEADER", "PARAM", "REF", "ENABLED", "DISABLED", "REQUIRED", "IZER", "IZERS",
})
# Values that are not secrets whatever the name: numbers, booleans and nulls, and references to where the secret
# really is ($DB_PASS, settings.DB_PASSWORD). os.environ[...] and getenv(...) never match: brackets and parentheses
# cannot be in an unquoted value. Bare numbers stop at 7 digits (86400, 604800) so that an all-digit password of the
# usual 8+ still counts; a $reference is an environment name (upper case), so $ecretP4ss is still a secret.
_PLAIN_VALUE = re.compile(
    r"[+-]?(?:[0-9]{1,7}|[0-9]{1,3}(?:_[0-9]{3}){1,6})(?:\.[0-9]{1,16})?(?:[eE][+-]?[0-9]{1,4})?"
    r"|(?i:true|false|none|null|nil|undefined)"
    r"|\$[A-Z_][A-Z0-9_]{0,128}"
    r"|(?:settings|config|conf|cfg|self|cls|this|os|env|environ|process|app|options|opts|args|ctx|context|params"
    r"|secrets|vault|creds|credentials)(?:\.[A-Za-z_][A-Za-z0-9_]{0,128}){1,8}"
)


def _env_value_is_not_secret(match: re.Match[str]) -> bool:
    """PASSWORD_MIN_LENGTH = 12, SECRET = None, PASSWORD = settings.DB_PASSWORD: configuration, not a secret."""
    if _PLAIN_VALUE.fullmatch(match.group("secret")):
        return True
    name = match.group("name").upper()
    after = max((word.end() for word in _SECRET_WORD.finditer(name)), default=len(name))  # after the last one
    return any(word in _NOT_SECRET_WORDS for word in name[after:].split("_"))


# The body of a PEM block: base64, header lines ("Proc-Type: 4,ENCRYPTED"), and JSON's escaped newlines ("\n"), up
# to the END line; a dash only when it does not start the END line. Greedy over one character class: linear.
_PEM_BODY = r"(?:[A-Za-z0-9+/=\s:,.\\]|-(?!----))*"

PATTERNS: tuple[SecretPattern, ...] = (
    _p("private-key", r"-----BEGIN [A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----" + _PEM_BODY
       + r"(?:-----END [A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----)?"),
    _p("aws-access-key-id", r"\b(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}\b"),
    _p("aws-secret-access-key",
       r"(?i:aws_?secret_?(?:access_?)?key)[\"']?[ \t]{0,8}[:=][ \t]{0,8}[\"']?(?P<secret>[A-Za-z0-9/+=]{40})(?![A-Za-z0-9/+=])",
       "secret"),
    _p("gcp-api-key", r"\bAIza[0-9A-Za-z_\-]{35}(?![0-9A-Za-z_\-])"),
    _p("gcp-oauth-token", r"\bya29\.[0-9A-Za-z_\-]{20,2048}"),
    _p("azure-storage-key",
       r"(?i:AccountKey|SharedAccessKey|SharedAccessSignature)=(?P<secret>[A-Za-z0-9+/=%]{20,1024})", "secret"),
    _p("azure-sas-signature", r"[?&]sig=(?P<secret>[A-Za-z0-9%+/=]{20,256})", "secret"),
    _p("github-token", r"\b(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})\b"),
    _p("slack-token", r"\bxox[abeprs]-[A-Za-z0-9-]{10,250}"),
    _p("slack-webhook", r"https://hooks\.slack\.com/services/[A-Za-z0-9/_-]{20,200}"),
    _p("bearer-token", r"(?i:\bbearer)[ \t]{1,8}(?=[A-Za-z\-._~+/]{0,64}[0-9])(?P<secret>[A-Za-z0-9\-._~+/]{8,4096}=*)", "secret"),
    _p("basic-auth", r"(?i:\bbasic)[ \t]{1,8}(?=[A-Za-z+/]{0,64}[0-9])(?P<secret>[A-Za-z0-9+/]{12,4096}={0,2})(?![A-Za-z0-9+/=])", "secret"),
    _p("jwt", r"\beyJ[A-Za-z0-9_-]{8,4096}\.eyJ[A-Za-z0-9_-]{8,4096}\.[A-Za-z0-9_-]{8,4096}"),
    _p("url-password", r"\b[a-z][a-z0-9+.-]{0,20}://[^\s/:@\"']{0,128}:(?P<secret>[^\s/@\"']{1,256})@", "secret"),
    # password = "..." / password: '...' in code and config; the quoted value only.
    _p("password-assignment",
       r"(?i:passw(?:or)?d|pwd|secret|client_secret|api_?key|access_?token|auth_?token)[\"']?[ \t]{0,8}(?::|=|:=)"
       r"[ \t]{0,8}(?P<q>[\"'])(?P<secret>[^\"'\r\n]{1,512})(?P=q)",
       "secret"),
    # PASSWORD=hunter2 in .env files, shell and ini: an unquoted value to the end of the line. Upper-case keys (the
    # environment's style) or a lower-case password; a dotted name (``self.token = token``) is code, not a secret, and
    # so are settings about a secret and plain values (_env_value_is_not_secret).
    _p("env-secret",
       r"(?m)^[ \t]{0,16}(?:export[ \t]{1,8})?(?P<name>[A-Z0-9_]{0,40}(?:PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY)"
       r"[A-Z0-9_]{0,40}|[a-z0-9_]{0,40}passw(?:or)?d[a-z0-9_]{0,40})[ \t]{0,8}=[ \t]{0,8}"
       r"(?P<secret>[^\s\"'#;()\[\]{}]{1,512})[ \t]*$",
       "secret", not_secret=_env_value_is_not_secret),
)


def _mark(name: str) -> str:
    return f"[REDACTED:{name}]"


def redact(text: str) -> tuple[str, Counter[str]]:
    """The text with every secret replaced by ``[REDACTED:kind]``, and how many of each kind were found."""
    counts: Counter[str] = Counter()
    if not text:
        return text, counts
    for pattern in PATTERNS:
        group = pattern.group
        name = pattern.name
        not_secret = pattern.not_secret

        def replace(
            match: re.Match[str],
            group: str | int = group,
            name: str = name,
            not_secret: Callable[[re.Match[str]], bool] | None = not_secret,
        ) -> str:
            if match.group(group) is None or _mark(name) == match.group(group):
                return match.group(0)
            if not_secret is not None and not_secret(match):
                return match.group(0)
            counts[name] += 1
            whole = match.group(0)
            start, end = match.start(group) - match.start(0), match.end(group) - match.start(0)
            return whole[:start] + _mark(name) + whole[end:]

        text = pattern.regex.sub(replace, text)
    return text, counts


# Fields of an outgoing request body that carry prompt text (both dialects): these are redacted, nothing else.
_TEXT_FIELDS = ("prompt", "input_prefix", "input_suffix", "suffix")


def redact_body(body: Mapping[str, Any]) -> tuple[dict[str, Any], Counter[str]]:
    """A copy of a request body with every prompt-bearing string redacted."""
    out = dict(body)
    counts: Counter[str] = Counter()

    def clean(value: Any) -> Any:
        if isinstance(value, str):
            text, found = redact(value)
            counts.update(found)
            return text
        return value

    for key in _TEXT_FIELDS:
        if key in out:
            out[key] = clean(out[key])
    if isinstance(out.get("input_extra"), list):
        out["input_extra"] = [
            {**item, "text": clean(item.get("text"))} if isinstance(item, Mapping) else item
            for item in out["input_extra"]
        ]
    if isinstance(out.get("messages"), list):
        out["messages"] = [
            {**m, "content": clean(m.get("content"))} if isinstance(m, Mapping) else m for m in out["messages"]
        ]
    return out, counts


def prompt_of(body: Mapping[str, Any]) -> str:
    """Every prompt-bearing string of a body, joined in a fixed order: what the audit log hashes and measures."""
    parts: list[str] = []
    for item in body.get("input_extra") or []:
        if isinstance(item, Mapping):
            parts.append(f"{item.get('filename', '')}\n{item.get('text', '')}")
    for key in ("input_prefix", "prompt", "input_suffix", "suffix"):
        value = body.get(key)
        if isinstance(value, str):
            parts.append(value)
    for m in body.get("messages") or []:
        if isinstance(m, Mapping):
            parts.append(f"{m.get('role', '')}: {m.get('content', '')}")
    return "\n".join(parts)


__all__ = ["PATTERNS", "SecretPattern", "prompt_of", "redact", "redact_body"]
