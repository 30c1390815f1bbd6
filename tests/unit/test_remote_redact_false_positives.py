"""Settings *about* a secret are not secrets: ``PASSWORD_MIN_LENGTH = 12`` reaches the remote model as it is, while
``PASSWORD=hunter2`` still does not (issue 14). Exact before/after text for each case, and the vetoes stay linear on
1 MB adversarial input like the patterns themselves (test_remote_audit.py)."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable

import pytest

from codehearth.engine.remote import redact as redact_module
from codehearth.engine.remote.redact import redact

# Configuration, not secrets: each must come back exactly as it went in, with nothing counted.
NOT_SECRETS: list[str] = [
    # a name that goes on past the secret word
    "PASSWORD_MIN_LENGTH = 12\n",
    "password_min_length = 12\n",
    "MIN_PASSWORD_LENGTH=8\n",
    "PASSWORD_FIELD = password\n",
    'PASSWORD_FIELD = "password"\n',
    "PASSWORD_HASHER = argon2\n",
    "PASSWORD_HASHER = 'argon2'\n",
    'PASSWORD_HASHERS = ["django.contrib.auth.hashers.Argon2PasswordHasher"]\n',
    "TOKEN_TTL = 3600\n",
    "API_KEY_ENV=OPENAI_API_KEY\n",
    "API_KEY_HEADER=X-Api-Key\n",
    "SECRET_NAME=prod/db/credentials\n",
    "TOKENIZER=gpt2\n",
    # a plain value
    "MAX_TOKENS=4096\n",
    "TOKEN_BUDGET = 1_000_000\n",
    "SECRET = None\n",
    "TOKEN=null\n",
    "USE_TOKEN = True\n",
    "SECRET_KEY = false\n",
    # a reference to where the secret is
    "PASSWORD = settings.DB_PASSWORD\n",
    "password = config.db.password\n",
    "API_KEY = process.env.API_KEY\n",
    "export PASSWORD=$DB_PASS\n",
    'PASSWORD = os.environ["DB_PASSWORD"]\n',
    'PASSWORD = os.getenv("DB_PASSWORD")\n',
    'password = getenv("DB_PASSWORD")\n',
]

# Secrets, also in the shapes the vetoes come close to: (before, exact after). Assembled at run time so that the
# repository holds no string a secret scanner would flag.
SECRETS: list[tuple[str, str]] = [
    ("PASSWORD=" + "hunter2\n", "PASSWORD=[REDACTED:env-secret]\n"),
    ('DB_PASSWORD = "' + 's3cr3t!"\n', 'DB_PASSWORD = "[REDACTED:password-assignment]"\n'),
    ("export API_TOKEN=" + "abc123def\n", "export API_TOKEN=[REDACTED:env-secret]\n"),
    ("SECRET_KEY=" + "django-insecure-abc\n", "SECRET_KEY=[REDACTED:env-secret]\n"),
    ("TOKEN_SECRET=" + "abc123\n", "TOKEN_SECRET=[REDACTED:env-secret]\n"),  # the last secret word has no suffix
    ("PASSWORD_RESET_TOKEN=" + "abc123\n", "PASSWORD_RESET_TOKEN=[REDACTED:env-secret]\n"),
    ("PASSWORD_HASH=" + "pbkdf2abc\n", "PASSWORD_HASH=[REDACTED:env-secret]\n"),  # a hash, not a hasher
    ("DB_PASSWORD=" + "12345678\n", "DB_PASSWORD=[REDACTED:env-secret]\n"),  # 8 digits: a password, not a count
    ("PASSWORD=" + "$ecretP4ss\n", "PASSWORD=[REDACTED:env-secret]\n"),  # not an environment reference
    ("password = " + "hunter2.com\n", "password = [REDACTED:env-secret]\n"),  # dotted, but no known namespace
    ('MIN_PASSWORD = "' + 'abc123"\n', 'MIN_PASSWORD = "[REDACTED:password-assignment]"\n'),
]


@pytest.mark.parametrize("text", NOT_SECRETS)
def test_settings_about_secrets_are_left_alone(text: str) -> None:
    assert redact(text) == (text, {})


@pytest.mark.parametrize(("before", "after"), SECRETS)
def test_secrets_next_to_them_are_still_redacted(before: str, after: str) -> None:
    out, counts = redact(before)
    assert out == after
    assert sum(counts.values()) == 1


def test_a_file_mixing_both_keeps_the_settings_and_loses_the_secrets() -> None:
    text = "PASSWORD_MIN_LENGTH = 12\nDB_PASSWORD=" + "hunter2hunter2\nTOKEN_TTL = 3600\n"
    out, counts = redact(text)
    assert out == "PASSWORD_MIN_LENGTH = 12\nDB_PASSWORD=[REDACTED:env-secret]\nTOKEN_TTL = 3600\n"
    assert counts == {"env-secret": 1}


# -- bounds ------------------------------------------------------------------------------------------------------

SIZE = 1 << 20


def _module_regexes() -> dict[str, re.Pattern[str]]:
    """Every compiled pattern of redact.py outside the table (the vetoes' helpers), found from the module itself."""
    table = {p.regex for p in redact_module.PATTERNS}
    return {name: value for name, value in vars(redact_module).items()
            if isinstance(value, re.Pattern) and value not in table}


def _adversarial() -> list[str]:
    pieces = ["1", "1_", "1.", "settings.", "settings.a", "$", "$A", "PASSWORD", "PASSWORD_", "API_", "a", " "]
    return [(piece * (SIZE // len(piece) + 1))[:SIZE] for piece in pieces]


def _finishes(work: Callable[[], None]) -> bool:
    # A hang detector, not a timing assertion: linear work takes milliseconds here, a backtracking pattern hours.
    done: list[int] = []

    def run() -> None:
        work()
        done.append(1)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(60)
    return done == [1]


def test_the_helper_patterns_are_found() -> None:
    assert {"_SECRET_WORD", "_PLAIN_VALUE"} <= set(_module_regexes())


@pytest.mark.parametrize("name", sorted(_module_regexes()))
def test_helper_pattern_is_linear_on_adversarial_megabytes(name: str) -> None:
    regex = _module_regexes()[name]

    def work() -> None:
        for text in _adversarial():
            regex.fullmatch(text)
            for _ in regex.finditer(text):
                pass

    assert _finishes(work), f"{name} did not finish on 1 MB adversarial text"


def test_redact_with_vetoes_is_linear_on_adversarial_megabytes() -> None:
    """A megabyte of vetoed matches (each one runs the veto) and of near-misses, through the whole pass."""
    lines = [
        "PASSWORD_MIN_LENGTH = 12\n" * (SIZE // 25),
        "PASSWORD_" + "MIN_" * (SIZE // 4) + "= 1\n",
        "PASSWORD = settings" + ".a" * (SIZE // 2) + "\n",
        "PASSWORD = " + "1" * SIZE + "\n",
        "PASSWORD=$" + "A" * SIZE + "\n",
    ]

    def work() -> None:
        for text in lines:
            redact(text)

    assert _finishes(work), "redact() did not finish on 1 MB adversarial text"
