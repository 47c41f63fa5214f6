"""Settings: async driver URLs, the business database default, the env prefix."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from progress_sse.settings import (
    DEFAULT_DATABASE_URL,
    Settings,
    normalize_url,
    sibling_sqlite_url,
)

PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DATABASE_URL", "APP_DATABASE_URL", "CLIENT_BUFFER"):
        monkeypatch.delenv(f"PROGRESS_SSE_{name}", raising=False)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgres://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("postgresql://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("sqlite:///./x.db", "sqlite+aiosqlite:///./x.db"),
        ("sqlite:////abs/x.db", "sqlite+aiosqlite:////abs/x.db"),
        (PG, PG),
        ("sqlite+aiosqlite:///x.db", "sqlite+aiosqlite:///x.db"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
    ],
)
def test_normalize_url_picks_the_async_driver_for_plain_urls(url: str, expected: str) -> None:
    assert normalize_url(url) == expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite+aiosqlite:///x/runs.db", "sqlite+aiosqlite:///x/runs_app.db"),
        ("sqlite+aiosqlite:////abs/dir/runs.db", "sqlite+aiosqlite:////abs/dir/runs_app.db"),
        ("sqlite+aiosqlite:///runs", "sqlite+aiosqlite:///runs_app.db"),
        ("sqlite+aiosqlite:///x/runs.sqlite3", "sqlite+aiosqlite:///x/runs_app.sqlite3"),
    ],
)
def test_sibling_sqlite_url_is_a_file_next_to_the_store(url: str, expected: str) -> None:
    assert sibling_sqlite_url(url) == expected


def test_sibling_sqlite_url_takes_a_suffix() -> None:
    assert (
        sibling_sqlite_url("sqlite+aiosqlite:///runs.db", "_biz")
        == "sqlite+aiosqlite:///runs_biz.db"
    )


def test_default_is_a_sqlite_file_with_a_sibling_business_file() -> None:
    settings = Settings()
    assert settings.database_url == DEFAULT_DATABASE_URL
    assert settings.business_url == "sqlite+aiosqlite:///progress_sse_app.db"
    assert settings.business_url != settings.database_url


def test_postgresql_keeps_business_data_in_the_same_database() -> None:
    settings = Settings(database_url="postgresql://postgres@127.0.0.1:5432/test")
    assert settings.database_url == PG
    assert settings.business_url == PG


def test_an_explicit_business_url_is_kept_and_normalized() -> None:
    settings = Settings(database_url="sqlite:///a.db", app_database_url="postgres://u@h/b")
    assert settings.business_url == "postgresql+asyncpg://u@h/b"


def test_environment_variables_use_the_progress_sse_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROGRESS_SSE_DATABASE_URL", "sqlite:///tmp/runs.db")
    monkeypatch.setenv("PROGRESS_SSE_CLIENT_BUFFER", "64")
    monkeypatch.setenv("DATABASE_URL", "postgresql://ignored@h/db")
    settings = Settings()
    assert settings.database_url == "sqlite+aiosqlite:///tmp/runs.db"
    assert settings.business_url == "sqlite+aiosqlite:///tmp/runs_app.db"
    assert settings.client_buffer == 64


def test_out_of_range_values_are_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROGRESS_SSE_CLIENT_BUFFER", "1")
    with pytest.raises(ValidationError):
        Settings()


@pytest.mark.parametrize(
    "origins", ["*", "https://*.example.com", "ftp://x", "https://a/b", "a.com"]
)
def test_cors_origins_are_exact_and_never_a_wildcard(origins: str) -> None:
    with pytest.raises(ValidationError, match="origin"):
        Settings(cors_origins=origins)


def test_cors_origins_are_a_comma_separated_list() -> None:
    settings = Settings(cors_origins=" https://a.example , http://localhost:3000/ ")
    assert settings.cors_origin_list == ["https://a.example", "http://localhost:3000"]
    assert Settings().cors_origin_list == []


@pytest.mark.parametrize("bad", ["lots", "10 per fortnight", "-1/minute"])
def test_rate_limits_must_parse(bad: str) -> None:
    with pytest.raises(ValidationError, match="is not a rate limit"):
        Settings(rate_limit_starts=bad)


def test_an_empty_rate_limit_turns_that_limit_off() -> None:
    assert Settings(rate_limit_requests="").rate_limit_requests == ""
