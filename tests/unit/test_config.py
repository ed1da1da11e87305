import pytest
from pydantic import ValidationError

from services.config import Settings


def test_comma_separated_lists_and_url_normalisation() -> None:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        ingest_api_keys="a, b,,c",  # type: ignore[arg-type]
        gazetteer_countries="iq,sy,tr",  # type: ignore[arg-type]
        database_url="postgresql://u@h/db",
    )
    assert settings.ingest_api_keys == ["a", "b", "c"]
    assert settings.gazetteer_countries == ["IQ", "SY", "TR"]
    assert settings.database_url == "postgresql+psycopg://u@h/db"


def test_environment_variables_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("READ_API_KEYS", "r1,r2")
    monkeypatch.setenv("PORT", "8123")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.read_api_keys == ["r1", "r2"]
    assert settings.port == 8123


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("DATABASE_URL", "mysql://x"),
        ("PORT", "http"),
        ("GAZETTEER_COUNTRIES", "IRQ"),
        ("REDIS_URL", "http://x"),
    ],
)
def test_a_bad_variable_fails_fast_naming_it(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError) as caught:
        Settings(_env_file=None)  # type: ignore[call-arg]
    assert caught.value.errors()[0]["loc"][0] == variable.lower()


def test_dev_mode_opens_writes_on_loopback_only() -> None:
    assert Settings(_env_file=None, dev_mode=True, host="127.0.0.1").open_writes  # type: ignore[call-arg]
    assert not Settings(_env_file=None, dev_mode=True, host="0.0.0.0").open_writes  # type: ignore[call-arg]  # noqa: S104
    assert not Settings(_env_file=None, dev_mode=False, host="127.0.0.1").open_writes  # type: ignore[call-arg]
