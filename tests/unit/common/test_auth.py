from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from libs.common.auth import TokenConfigError, bearer_token, load_admin_token, token_matches

STRONG = secrets.token_urlsafe(32)


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER", "bEaReR"])
def test_bearer_scheme_is_case_insensitive(scheme: str) -> None:
    assert bearer_token(f"{scheme} {STRONG}") == STRONG


def test_surrounding_whitespace_is_stripped() -> None:
    assert bearer_token(f"  Bearer {STRONG}\r\n") == STRONG


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        "Bearer  abc",
        "Bearer a b",
        "Basic abc",
        "Token abc",
        "abc",
        "Bearer\tabc",
    ],
)
def test_malformed_or_other_headers_give_no_token(header: str | None) -> None:
    assert bearer_token(header) is None


def test_token_matches_only_the_same_token() -> None:
    assert token_matches(STRONG, STRONG)
    assert not token_matches(STRONG[:-1], STRONG)
    assert not token_matches(STRONG + "x", STRONG)
    assert not token_matches(None, STRONG)
    assert not token_matches("", "")  # an empty expected token never opens the door


def test_token_matches_non_ascii_tokens() -> None:
    assert token_matches("jeton-été-très-long", "jeton-été-très-long")
    assert not token_matches("jeton-ete-tres-long", "jeton-été-très-long")


def test_token_from_the_environment_value(tmp_path: Path) -> None:
    assert load_admin_token(f" {STRONG}\n", None, insecure_dev=False) == STRONG


def test_the_file_wins_over_the_value(tmp_path: Path) -> None:
    other = secrets.token_urlsafe(32)
    path = tmp_path / "token"
    path.write_text(other + "\n")
    assert load_admin_token(STRONG, path, insecure_dev=False) == other


def test_an_unreadable_or_empty_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(TokenConfigError, match="cannot read"):
        load_admin_token(STRONG, tmp_path / "missing", insecure_dev=True)
    empty = tmp_path / "empty"
    empty.write_text("\n")
    with pytest.raises(TokenConfigError, match="empty"):
        load_admin_token(STRONG, empty, insecure_dev=True)


@pytest.mark.parametrize("value", [None, "", "   "])
def test_a_missing_token_is_refused_unless_insecure_dev(value: str | None) -> None:
    with pytest.raises(TokenConfigError, match="no admin token"):
        load_admin_token(value, None, insecure_dev=False)
    assert load_admin_token(value, None, insecure_dev=True) is None


@pytest.mark.parametrize(
    "weak",
    [
        "short-token",
        "changeme",
        "change-me",
        "changemechangeme",
        "CHANGE-ME-CHANGE-ME",
        "admin-secret-token-2024",
        "password1234567890",
        "aaaaaaaaaaaaaaaaaaaaaaaa",
        "abababababababababab",
    ],
)
def test_weak_tokens_are_refused_without_echoing_them(weak: str, tmp_path: Path) -> None:
    for insecure_dev in (False, True):
        with pytest.raises(TokenConfigError, match="too weak") as caught:
            load_admin_token(weak, None, insecure_dev=insecure_dev)
        assert weak not in str(caught.value)
    path = tmp_path / "token"
    path.write_text(weak)
    with pytest.raises(TokenConfigError, match="too weak"):
        load_admin_token(None, path, insecure_dev=False)


def test_a_token_with_inner_whitespace_is_refused() -> None:
    with pytest.raises(TokenConfigError, match="whitespace"):
        load_admin_token(f"{STRONG[:20]} {STRONG[20:]}", None, insecure_dev=False)


@pytest.mark.parametrize(
    "strong", [secrets.token_urlsafe(32), secrets.token_hex(16), "changeme-Xq7v9Lk2Pz4Rm8Tn"]
)
def test_generated_tokens_are_accepted(strong: str) -> None:
    assert load_admin_token(strong, None, insecure_dev=False) == strong
