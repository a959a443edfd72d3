"""The core knows no Telegram: every module under bot/services imports without aiogram."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import bot.services

SERVICES = sorted(
    f"bot.services.{path.stem}"
    for path in Path(bot.services.__file__).parent.glob("*.py")
    if path.stem != "__init__"
)

# One fresh interpreter for all modules: after each import, whether aiogram came with it.
_PROBE = """
import importlib, json, sys
found = {}
for name in sys.argv[1:]:
    importlib.import_module(name)
    found[name] = any(m == "aiogram" or m.startswith("aiogram.") for m in sys.modules)
print(json.dumps(found))
"""


def test_the_walk_finds_the_services() -> None:
    assert {"bot.services.chat", "bot.services.broadcast", "bot.services.keys"} <= set(SERVICES)


def test_no_service_module_imports_aiogram() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, *SERVICES],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(bot.services.__file__).parents[2],
    )
    found = json.loads(done.stdout)
    assert list(found) == SERVICES
    assert [name for name, loaded in found.items() if loaded] == []


def test_the_probe_would_see_aiogram() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, "bot.services.clock", "handlers.keyboards"],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(bot.services.__file__).parents[2],
    )
    assert json.loads(done.stdout) == {"bot.services.clock": False, "handlers.keyboards": True}
