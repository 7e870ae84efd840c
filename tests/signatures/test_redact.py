"""Secret redaction: every excerpt pcgbot publishes goes through pcgbot.signatures.secrets."""

from __future__ import annotations

import pytest

from pcgbot.signatures.secrets import REDACTED, redact, redact_lines

GHP = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
PAT = "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123456789abcdefghij"
HF = "hf_" + "aBcDeFgHiJkLmNoPqRsTuVwXyZ01234567"


@pytest.mark.parametrize("prefix", ["ghp_", "gho_", "ghu_", "ghs_", "ghr_"])
def test_github_token_shapes(prefix: str) -> None:
    tok = prefix + GHP[4:]
    out = redact(f"remote: https://x-access-token:{tok}@github.com/o/r.git", env={})
    assert tok not in out and REDACTED in out


def test_fine_grained_pat_and_hf_token() -> None:
    out = redact(f"GITHUB={PAT} and hub token {HF} end", env={})
    assert PAT not in out and HF not in out
    assert out.count(REDACTED) == 2 and out.endswith(" end")


def test_auth_headers_keep_scheme_hide_value() -> None:
    out = redact("curl -H 'Authorization: Bearer abc.def-ghi_123456' https://x", env={})
    assert "abc.def-ghi_123456" not in out and "Bearer" in out
    out = redact("Authorization: token 0123456789abcdef0123", env={})
    assert "0123456789abcdef0123" not in out
    out = redact("Authorization: Basic dXNlcjpwYXNzd29yZA==", env={})
    assert "dXNlcjpwYXNzd29yZA" not in out


def test_ordinary_log_words_survive() -> None:
    # Engine logs say "token" constantly; none of this is a credential.
    line = ("Decode batch. #running-req: 1, #token: 2048, token usage: 0.01, "
            "gen throughput (token/s): 93.21, basic setup done, tokenizer_path=/models/x")
    assert redact(line, env={}) == line


def test_env_secret_values_by_name() -> None:
    env = {"MY_API_KEY": "zz-custom-secret-42", "HF_TOKEN": "shortx1", "DB_PASSWORD": "pw",
           "PATH": "/usr/bin:/bin", "SOME_SECRET_THING": "another-value-77"}
    text = "key=zz-custom-secret-42 tok=shortx1 pw=pw path=/usr/bin:/bin other=another-value-77"
    out = redact(text, env=env)
    assert "zz-custom-secret-42" not in out and "another-value-77" not in out
    assert "shortx1" not in out                       # 7 chars >= 6: redacted
    assert "pw=pw" in out                              # too short to redact safely
    assert "/usr/bin:/bin" in out                      # PATH is not a secret name


def test_env_defaults_to_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PCGBOT_TEST_TOKEN", "s3cr3t-value-from-env")
    assert redact("x s3cr3t-value-from-env y") == f"x {REDACTED} y"


def test_nested_secrets_longest_first() -> None:
    env = {"A_KEY": "abcdef", "B_KEY": "abcdef-longer"}
    assert redact("v=abcdef-longer", env=env) == f"v={REDACTED}"


def test_redact_lines_and_empty() -> None:
    assert redact("", env={}) == ""
    assert redact_lines([f"a {HF}", "b"], env={}) == [f"a {REDACTED}", "b"]


def test_named_secret_values_are_redacted_without_the_env():
    from pcgbot.signatures.secrets import redact

    for text, hidden in [("HF_TOKEN=hf_short123 x", "hf_short123"),
                         ("api_key: sk-abcdef123", "sk-abcdef123"),
                         ('"client_secret": "abc123xyz"', "abc123xyz"),
                         ("DB_PASSWORD='hunter2pass'", "hunter2pass")]:
        assert hidden not in redact(text, {}) and "[REDACTED]" in redact(text, {})
    for keep in ("Compiling num tokens (num_tokens=4)", "max_new_tokens=128000",
                 "tokenizer_path=/models/llama", "KeyError: 'model.layers.0.weight'"):
        assert redact(keep, {}) == keep


def test_signature_title_is_redacted(tmp_path, monkeypatch):
    from pcgbot.signatures.signature import signature_of_log

    monkeypatch.setenv("MY_SECRET", "plainsecretvalue99")
    log = tmp_path / "x.log"
    log.write_text("Traceback (most recent call last):\n"
                   '  File "/x/sglang/srt/a.py", line 3, in f\n'
                   "PermissionError: denied for plainsecretvalue99 and "
                   "hf_abcdefghijklmnopqrstuvwxyz123\n")
    sig = signature_of_log(log)
    blob = sig.title + " ".join(sig.alt_titles) + " ".join(sig.excerpt)
    assert "plainsecretvalue99" not in blob and "hf_abcdefghijklmnopqrstuvwxyz" not in blob
    assert "PermissionError" in sig.title


def test_ordinary_words_after_a_colon_are_kept_and_secrets_still_go():
    """Both sides: what pcgbot and engines print after ``key:`` / ``token:`` stays readable;
    credentials after the same words are still hidden."""
    keep = ["RuntimeError: Unexpected key: lm_head.weight in checkpoint",
            "RuntimeError: Unexpected key: model.layers.0.mlp.experts.w13_weight",
            "pcgbot: warning: no GITHUB_TOKEN: writing to the dry-run folder instead",
            "ValueError: token: expected an integer id",
            "KeyError: 'model.embed_tokens.weight'",
            "hash key: stage-a"]
    for line in keep:
        assert redact(line, env={}) == line, line
    hide = [("token: 8f3a9c2e71b44d0e9a6b5c4d", "8f3a9c2e71b44d0e9a6b5c4d"),
            ("GITHUB_TOKEN: v1.0123456789abcdef0123", "v1.0123456789abcdef0123"),
            ("api_key: sk-abcdef123", "sk-abcdef123"),
            ("password: correcthorsebatterystaple", "correcthorsebatterystaple"),
            ("HF_TOKEN=somethingsecret", "somethingsecret")]
    for line, secret in hide:
        out = redact(line, env={})
        assert secret not in out and REDACTED in out, (line, out)


def test_credentials_in_a_url_and_gitlab_tokens_are_redacted() -> None:
    line = "git clone https://oauth2:glpat-AbCdEfGhIjKlMnOpQrSt@gitlab.example.com/x.git failed"
    out = redact(line, {})
    assert "glpat-" not in out and "oauth2" not in out
    assert out == "git clone https://[REDACTED]@gitlab.example.com/x.git failed"
    assert redact("see https://example.com/a@b and user@host", {}) == "see https://example.com/a@b and user@host"
    assert "glpat-" not in redact("GITLAB=glpat-AbCdEfGhIjKlMnOpQrSt", {})
