"""KEY_RECHECK_PER_SECOND / KEY_RECHECK_INTERVAL."""

from __future__ import annotations

import pytest

from bot.config import ConfigError
from tests.conftest import make_settings


def test_defaults_stay_within_telegram_limits(tmp_path):
    settings = make_settings(tmp_path)
    assert 0 < settings.key_recheck_per_second <= 20
    assert settings.key_recheck_interval == 6 * 3600


def test_overrides(tmp_path):
    settings = make_settings(tmp_path, KEY_RECHECK_PER_SECOND="2.5", KEY_RECHECK_INTERVAL="600")
    assert (settings.key_recheck_per_second, settings.key_recheck_interval) == (2.5, 600)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("KEY_RECHECK_PER_SECOND", "0"),
        ("KEY_RECHECK_PER_SECOND", "31"),
        ("KEY_RECHECK_PER_SECOND", "fast"),
        ("KEY_RECHECK_INTERVAL", "10"),
        ("KEY_RECHECK_INTERVAL", "1h"),
    ],
)
def test_bad_values_name_the_variable(tmp_path, name, value):
    with pytest.raises(ConfigError) as info:
        make_settings(tmp_path, **{name: value})
    assert info.value.variable == name
