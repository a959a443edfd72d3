import pytest

from bot.config import ConfigError
from tests.conftest import make_settings


def test_generation_settings_defaults_and_overrides(tmp_path):
    settings = make_settings(tmp_path)
    assert (settings.generation_timeout, settings.generation_concurrency) == (300.0, 4)
    settings = make_settings(tmp_path, GENERATION_TIMEOUT="900", GENERATION_CONCURRENCY="2")
    assert (settings.generation_timeout, settings.generation_concurrency) == (900.0, 2)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("GENERATION_TIMEOUT", "0"),
        ("GENERATION_TIMEOUT", "soon"),
        ("GENERATION_CONCURRENCY", "0"),
        ("GENERATION_CONCURRENCY", "many"),
    ],
)
def test_bad_generation_settings_name_the_variable(tmp_path, name, value):
    with pytest.raises(ConfigError) as caught:
        make_settings(tmp_path, **{name: value})
    assert caught.value.variable == name


def test_env_example_lists_the_generation_settings():
    from pathlib import Path

    example = (Path(__file__).resolve().parent.parent / ".env.example").read_text()
    assert "GENERATION_TIMEOUT=" in example and "GENERATION_CONCURRENCY=" in example
