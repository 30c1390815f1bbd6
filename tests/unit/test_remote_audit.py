"""The remote audit trail and the redaction pass: every pattern of the table on what it must catch and what it must
leave alone, each linear on 1 MB adversarial text, and the JSON-lines record a remote request leaves behind
(httpx.MockTransport plays the server, as in test_remote_payloads.py)."""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from codehearth.config import EngineSettings
from codehearth.engine.base import EngineUnavailable, GenerationRequest
from codehearth.engine.remote import RemoteEngine
from codehearth.engine.remote.audit import AuditLog, AuditRecord, audit_path
from codehearth.engine.remote.redact import PATTERNS, prompt_of, redact, redact_body

# Test secrets are assembled at run time so that the repository holds no string a secret scanner would flag.
AWS_ID = "AKIA" + "IOSFODNN7" + "EXAMPLE"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/" + "bPxRfiCYEXAMPLEKEY"
GH = "ghp_" + "a1B2c3D4e5F6g7H8i9J0" + "k1L2m3N4o5P6q7R8"
SLACK = "xoxb-" + "123456789012-1234567890123-" + "AbCdEfGhIjKlMnOpQrStUvWx"
JWT = "eyJhbGciOiJIUzI1NiJ9." + "eyJzdWIiOiIxMjM0NTY3ODkwIn0." + "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
PEM_BODY = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7\nVJTUt9Us8cKjMzEfYyjiWA4R4/M2bS1GB4t7NXp9\n"
PEM = "-----BEGIN " + "RSA PRIVATE KEY-----\n" + PEM_BODY + "-----END RSA PRIVATE KEY-----"

# pattern name -> (texts it must redact, with the secret that must vanish; texts it must leave as they are)
CASES: dict[str, tuple[list[tuple[str, str]], list[str]]] = {
    "private-key": (
        [(f"key = '''{PEM}'''\n", "MIIEvQIBADAN"),
         ('{"private_key": "-----BEGIN ' + 'PRIVATE KEY-----\\n' + PEM_BODY.replace("\n", "\\n")
          + '-----END PRIVATE KEY-----\\n"}', "VJTUt9Us8cKj"),
         ("-----BEGIN " + "OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n", "b3BlbnNzaC1rZXkt")],
        ["-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----",
         "# a private key starts with -----BEGIN ... PRIVATE KEY-----"],
    ),
    "aws-access-key-id": (
        [(f"aws_access_key_id = {AWS_ID}\n", AWS_ID), (f'client("s3", key="{AWS_ID}")', AWS_ID)],
        ["AKIASHORT", "xAKIAIOSFODNN7EXAMPLEx1", "AKIAIOSFODNN7EXAMPLEEXTRA"],
    ),
    "aws-secret-access-key": (
        [(f"aws_secret_access_key = {AWS_SECRET}\n", AWS_SECRET),
         (f'"AWS_SECRET_ACCESS_KEY": "{AWS_SECRET}"', AWS_SECRET)],
        ["aws_secret_access_key = os.environ['AWS_SECRET_ACCESS_KEY']", f"digest = '{AWS_SECRET}'"],
    ),
    "gcp-api-key": (
        [("GOOGLE_MAPS = 'AIza" + "SyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q'", "SyA1b2C3d4E5f6G7")],
        ["AIzaShort", "def AIzawhat(): pass"],
    ),
    "gcp-oauth-token": (
        [("token = ya29." + "a0AfH6SMBx1y2z3A4b5C6d7E8f9G0h", "a0AfH6SMBx1y2z3A4")],
        ["ya29.short", "version = 'ya29'"],
    ),
    "azure-storage-key": (
        [("DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=" + "Zm9vYmFyYmF6cXV4cXV1eA==" + ";",
          "Zm9vYmFyYmF6cXV4cXV1eA=="),
         ("Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKey=" + "c2VjcmV0c2VjcmV0c2VjcmV0", "c2VjcmV0c2Vj")],
        ["AccountKey=short", "account_key = load_key()"],
    ),
    "azure-sas-signature": (
        [("https://a.blob.core.windows.net/c/f?sv=2022-11-02&sig=" + "abcDEF123%2Bghi456JKL789mno%3D", "abcDEF123")],
        ["https://example.com/?sig=abc", "signature = sign(data)"],
    ),
    "github-token": (
        [(f"GITHUB_TOKEN: {GH}", GH), ("pat = 'github_pat_" + "11ABCDEFG0123456789_abcdefghijklmnop'",
                                        "11ABCDEFG0123456789")],
        ["ghp_short", "gho_", "def ghp_helper(): pass"],
    ),
    "slack-token": (
        [(f"client = WebClient(token='{SLACK}')", SLACK)],
        ["xoxb-short", "xoxo-1234567890123"],
    ),
    "slack-webhook": (
        [("url = 'https://hooks.slack.com/services/" + "T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX'",
          "T00000000/B00000000")],
        ["https://hooks.slack.com/", "see https://api.slack.com/messaging/webhooks"],
    ),
    "bearer-token": (
        [("headers = {'Authorization': 'Bearer " + "sk-live-4f9a8b7c6d5e4f3a2b1c'}", "sk-live-4f9a8b7c6d5e"),
         ("curl -H 'authorization: bearer " + "abc.def.123456789'", "abc.def.123456789")],
        ["# the bearer of this token", "uses Bearer authentication", "bearer = None"],
    ),
    "basic-auth": (
        [("Authorization: Basic " + "dXNlcjpwYXNzd29yZDEyMw==", "dXNlcjpwYXNzd29yZDEyMw==")],
        ["Basic authentication is supported", "basic = True"],
    ),
    "jwt": (
        [(f"cookie = '{JWT}'", "dozjgNryP4J3jVmNHl0w")],
        ["eyJ.eyJ.x", "payload = 'eyJhbGciOiJIUzI1NiJ9'"],
    ),
    "url-password": (
        [("DATABASE_URL = 'postgres://app:" + "s3cr3t-Pa55@db.internal:5432/app'", "s3cr3t-Pa55"),
         ("redis://:" + "hunter2hunter2@cache:6379/0", "hunter2hunter2")],
        ["http://localhost:8080/path", "https://example.com/user@host", "ssh://git@github.com/x/y.git"],
    ),
    "password-assignment": (
        [('password = "' + 'correct-horse-battery"', "correct-horse-battery"),
         ("db.connect(host='h', password='" + "Tr0ub4dor&3')", "Tr0ub4dor&3"),
         ('"client_secret": "' + 'a8f5f167f44f4964e6c998dee827110c"', "a8f5f167f44f"),
         ("API_KEY := '" + "k-1234567890'", "k-1234567890")],
        ["password = request.form['password']", "def check_password(password): ...", 'password = ""',
         "if not password:"],
    ),
    "env-secret": (
        [("DB_PASSWORD=" + "hunter2hunter2\n", "hunter2hunter2"), ("export API_TOKEN=" + "abc123def456\n", "abc123def456"),
         ("password = " + "Tr0ub4dor\n", "Tr0ub4dor")],
        ["self.token = token\n", "TOKEN = get_token()\n", "token = tokens[0]\n",
         "password_hash = hash_password(raw)\n"],
    ),
}


def test_every_pattern_of_the_table_has_cases() -> None:
    assert {p.name for p in PATTERNS} == set(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_pattern_redacts_what_it_must(name: str) -> None:
    for text, secret in CASES[name][0]:
        out, counts = redact(text)
        assert secret not in out, (name, text, out)
        assert f"[REDACTED:{name}]" in out, (name, text, out)
        assert counts[name] >= 1


@pytest.mark.parametrize("name", sorted(CASES))
def test_pattern_leaves_ordinary_code_alone(name: str) -> None:
    for text in CASES[name][1]:
        out, counts = redact(text)
        assert out == text, (name, text, out)
        assert sum(counts.values()) == 0


def test_redaction_is_idempotent_and_counts_each_secret() -> None:
    text = f"a = '{AWS_ID}'\nb = '{AWS_ID}'\nc = {GH}\n"
    once, counts = redact(text)
    assert counts == {"aws-access-key-id": 2, "github-token": 1}
    twice, again = redact(once)
    assert twice == once and sum(again.values()) == 0


# What each pattern anchors on, repeated for 1 MB with the closing part missing: the inputs that would make a
# backtracking pattern try every start against every end.
ANCHORS: dict[str, list[str]] = {
    "private-key": ["-----BEGIN PRIVATE KEY-----", "-----BEGIN ", "-", "\\n"],
    "aws-access-key-id": ["AKIA", "A"],
    "aws-secret-access-key": ["aws_secret_key=", "aws_secret_key= ", "A"],
    "gcp-api-key": ["AIza", "AIza-"],
    "gcp-oauth-token": ["ya29.", "ya29.a"],
    "azure-storage-key": ["AccountKey=", "AccountKey=A"],
    "azure-sas-signature": ["&sig=", "?sig=a"],
    "github-token": ["ghp_", "github_pat_", "ghp_a"],
    "slack-token": ["xoxb-", "xoxb-a"],
    "slack-webhook": ["https://hooks.slack.com/services/", "https://hooks.slack.com/services/a"],
    "bearer-token": ["bearer ", "bearer 1", "Bearer a"],
    "basic-auth": ["Basic ", "Basic 1", "Basic a"],
    "jwt": ["eyJ", "eyJa.", "eyJaaaaaaaaa.eyJ"],
    "url-password": ["a://", "a://b:", "a://:", "aa"],
    "password-assignment": ["password='", "password", "password= '", "password=\""],
    "env-secret": ["PASSWORD", "password", "export ", "PASSWORD=a", "password=a", "PASSWORD_MIN_LENGTH=1",
                   "PASSWORD=settings.", "PASSWORD=$A"],
}


def _adversarial(pattern_name: str) -> list[str]:
    size = 1 << 20
    pieces = [*ANCHORS[pattern_name], "a", " "]
    return [(piece * (size // len(piece) + 1))[:size] for piece in pieces] + ["\n".join(["x" * 40] * 25000)]


def test_every_pattern_has_adversarial_anchors() -> None:
    assert set(ANCHORS) == {p.name for p in PATTERNS}


@pytest.mark.parametrize("pattern", PATTERNS, ids=lambda p: p.name)
def test_pattern_is_linear_on_adversarial_megabytes(pattern: Any) -> None:
    # A hang detector, not a timing assertion: linear patterns take milliseconds here, a backtracking one hours.
    done: list[int] = []

    def run() -> None:
        for text in _adversarial(pattern.name):
            pattern.regex.sub("", text)
        done.append(1)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(60)
    assert done == [1], f"{pattern.name} did not finish on 1 MB adversarial text"


def test_redact_body_touches_only_prompt_fields() -> None:
    body = {
        "input_extra": [{"filename": "settings.py", "text": f"KEY = '{AWS_ID}'\n"}],
        "input_prefix": f"token = '{GH}'\n",
        "input_suffix": "",
        "prompt": "x = ",
        "messages": [{"role": "user", "content": f"explain {PEM}"}],
        "model": AWS_ID,  # not prompt text: left alone
        "stop": ["\n"],
    }
    out, counts = redact_body(body)
    assert counts == {"aws-access-key-id": 1, "github-token": 1, "private-key": 1}
    assert AWS_ID not in out["input_extra"][0]["text"] and GH not in out["input_prefix"]
    assert "MIIEvQ" not in out["messages"][0]["content"]
    assert out["model"] == AWS_ID and body["input_prefix"] == f"token = '{GH}'\n"  # a copy; the original is intact
    assert prompt_of(out).startswith("settings.py\nKEY = '[REDACTED:aws-access-key-id]'")


# -- the record a request leaves -----------------------------------------------------------------------------


def _stub(stream_lines: list[str] | None = None, fail: bool = False) -> tuple[httpx.MockTransport, list[dict]]:
    sent: list[dict] = []
    lines = stream_lines or ['data: {"choices":[{"text":"42","finish_reason":null}]}',
                             'data: {"choices":[{"text":"","finish_reason":"stop"}],'
                             '"usage":{"prompt_tokens":17,"completion_tokens":1}}',
                             "data: [DONE]"]

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/models":
            return httpx.Response(200, json={"data": [{"id": "coder"}]})
        if request.url.path == "/v1/completions":
            sent.append(json.loads(request.content))
            if fail:
                raise httpx.ConnectError("[Errno 111] Connection refused", request=request)
            return httpx.Response(200, headers={"content-type": "text/event-stream"},
                                  content=("\n".join(lines) + "\n").encode())
        return httpx.Response(404, json={"detail": "Not Found"})

    return httpx.MockTransport(handler), sent


def _engine(tmp_path: Path, transport: httpx.MockTransport, **extra: Any) -> RemoteEngine:
    settings = EngineSettings(kind="openai", url="http://127.0.0.1:9", model="coder",
                              audit_log=str(tmp_path / "audit.jsonl"), **extra)
    return RemoteEngine(settings, transport=transport)


def _records(tmp_path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]


def test_each_request_leaves_one_record_with_no_prompt_and_no_secret(tmp_path: Path) -> None:
    transport, sent = _stub()
    engine = _engine(tmp_path, transport)
    prompt = f"import boto3\nKEY = '{AWS_ID}'\nanswer = "
    result = engine.generate(GenerationRequest(prompt=[prompt], document="file:///ws/app/main%20v2.py"))
    engine.close()
    assert result.text == "42"
    assert AWS_ID not in json.dumps(sent)
    (record,) = _records(tmp_path)
    as_sent = sent[0]["prompt"]
    assert record["promptSha256"] == hashlib.sha256(as_sent.encode()).hexdigest()
    assert record["promptBytes"] == len(as_sent.encode())
    assert {k: record[k] for k in ("engine", "kind", "model", "purpose", "endpoint", "document", "promptTokens",
                                   "completionTokens", "completionBytes", "redactions", "redactionKinds",
                                   "outcome")} == {
        "engine": "http://127.0.0.1:9", "kind": "openai", "model": "coder", "purpose": "complete",
        "endpoint": "/v1/completions", "document": "/ws/app/main v2.py", "promptTokens": 17, "completionTokens": 1,
        "completionBytes": 2, "redactions": 1, "redactionKinds": {"aws-access-key-id": 1}, "outcome": "ok",
    }
    assert "prompt" not in record and record["time"].endswith("Z")
    assert engine.redactions == 1
    assert (tmp_path / "audit.jsonl").stat().st_mode & 0o777 == 0o600


def test_full_prompt_only_when_the_setting_asks(tmp_path: Path) -> None:
    transport, sent = _stub()
    engine = _engine(tmp_path, transport, audit_full_prompt=True)
    engine.generate(GenerationRequest(prompt=[f"t = '{GH}'\nx = "]))
    engine.close()
    (record,) = _records(tmp_path)
    assert record["prompt"] == sent[0]["prompt"] == "t = '[REDACTED:github-token]'\nx = "


def test_a_failed_request_is_recorded_too(tmp_path: Path) -> None:
    transport, _ = _stub(fail=True)
    engine = _engine(tmp_path, transport)
    with pytest.raises(EngineUnavailable, match="cannot be reached"):
        engine.generate(GenerationRequest(prompt=["x = "]))
    engine.close()
    (record,) = _records(tmp_path)
    assert record["outcome"] == "error" and "cannot be reached" in record["error"]


def test_nothing_is_recorded_for_a_request_that_never_left(tmp_path: Path) -> None:
    transport, sent = _stub()
    engine = _engine(tmp_path, transport)
    engine.generate(GenerationRequest(prompt=["x = "], deadline=0.0))  # expired before sending
    engine.close()
    assert sent == [] and not (tmp_path / "audit.jsonl").exists()


def test_an_unwritable_log_never_fails_a_request(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "audit.jsonl").mkdir()  # a folder where the file should be
    transport, _ = _stub()
    engine = _engine(tmp_path, transport)
    for _ in range(3):
        assert engine.generate(GenerationRequest(prompt=["x = "])).text == "42"
    engine.close()
    warnings = [r for r in caplog.records if "audit log" in r.getMessage()]
    assert len(warnings) == 1 and engine.audit.stats()["records"] == 3


def test_default_path_is_in_the_state_folder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CODEHEARTH_STATE_DIR", str(tmp_path / "state"))
    assert audit_path(EngineSettings()) == tmp_path / "state" / "remote-audit.jsonl"
    assert audit_path(EngineSettings(audit_log="~/x.jsonl")) == Path.home() / "x.jsonl"


def test_two_writers_append_whole_lines(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "a.jsonl")
    record = AuditRecord(engine="e", kind="openai", model="m", purpose="complete", endpoint="/", document="",
                         prompt="p" * 5000)
    threads = [threading.Thread(target=lambda: [log.write(record) for _ in range(50)]) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lines = (tmp_path / "a.jsonl").read_text().splitlines()
    assert len(lines) == 200 and all(json.loads(line)["promptBytes"] == 5000 for line in lines)
