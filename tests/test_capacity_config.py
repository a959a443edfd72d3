"""MAX_CONCURRENT_UPDATES: parsed, checked, documented."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import ConfigError
from tests.conftest import make_settings


def test_default_and_custom(tmp_path):
    assert make_settings(tmp_path).max_concurrent_updates == 800
    assert make_settings(tmp_path, MAX_CONCURRENT_UPDATES="250").max_concurrent_updates == 250


@pytest.mark.parametrize("value", ["0", "-5", "many"])
def test_bad_values_name_the_variable(tmp_path, value):
    with pytest.raises(ConfigError) as info:
        make_settings(tmp_path, MAX_CONCURRENT_UPDATES=value)
    assert info.value.variable == "MAX_CONCURRENT_UPDATES"


def test_documented_in_env_example_and_readme():
    root = Path(__file__).parent.parent
    assert "MAX_CONCURRENT_UPDATES=800" in (root / ".env.example").read_text()
    assert "`MAX_CONCURRENT_UPDATES`" in (root / "README.md").read_text()
