from __future__ import annotations

import pytest

from sdm_service.settings import DEVELOPMENT_SECRET, SettingsError, load_settings


def test_defaults_use_sqlite_under_var() -> None:
    settings = load_settings()
    assert settings.database_url.startswith("sqlite+aiosqlite:///")
    assert settings.env == "development"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgresql://u@h:5432/db", "postgresql+asyncpg://u@h:5432/db"),
        ("postgres://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("sqlite:///var/x.db", "sqlite+aiosqlite:///var/x.db"),
    ],
)
def test_database_urls_are_normalised_to_async_drivers(given: str, expected: str) -> None:
    assert load_settings(database_url=given).database_url == expected


def test_unknown_database_is_refused_with_variable_name() -> None:
    with pytest.raises(SettingsError, match="SDM_DATABASE_URL"):
        load_settings(database_url="mysql://x")


def test_production_refuses_the_default_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SDM_ENV", "production")
    monkeypatch.setenv("SDM_BASE_URL", "https://sdm.example.org")
    monkeypatch.delenv("SDM_SECRET_KEY", raising=False)
    with pytest.raises(SettingsError, match="SDM_SECRET_KEY"):
        load_settings()
    monkeypatch.setenv("SDM_SECRET_KEY", DEVELOPMENT_SECRET)
    with pytest.raises(SettingsError, match="SDM_SECRET_KEY"):
        load_settings()
    monkeypatch.setenv("SDM_SECRET_KEY", "short")
    with pytest.raises(SettingsError, match="at least 32"):
        load_settings()


def test_production_starts_with_a_real_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SDM_ENV", "production")
    monkeypatch.setenv("SDM_BASE_URL", "https://sdm.example.org")
    monkeypatch.setenv("SDM_SECRET_KEY", "Vq3xN8rT0pLm2sKd7YwB4cHz9uGf6eJa1QoR5tXiW8nE")
    settings = load_settings()
    assert settings.is_production
    assert settings.secure_cookies


def test_invalid_env_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SDM_ENV", "staging")
    with pytest.raises(SettingsError, match="SDM_ENV"):
        load_settings()


def test_the_per_address_api_ceiling_defaults_to_three_times_the_per_token_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("SDM_API_REQUESTS_PER_WINDOW", raising=False)
    monkeypatch.delenv("SDM_API_REQUESTS_PER_IP_PER_WINDOW", raising=False)
    assert load_settings().api_address_limit == 1800
    assert load_settings(api_requests_per_window=10).api_address_limit == 30
    monkeypatch.setenv("SDM_API_REQUESTS_PER_IP_PER_WINDOW", "50")
    assert load_settings(api_requests_per_window=10).api_address_limit == 50


@pytest.mark.parametrize("value", ["0", "-5", "many"])
def test_a_per_address_api_ceiling_below_one_is_refused(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("SDM_API_REQUESTS_PER_IP_PER_WINDOW", value)
    with pytest.raises(SettingsError, match="SDM_API_REQUESTS_PER_IP_PER_WINDOW"):
        load_settings()
