"""Every string a user sees, in English and Russian.

Each feature keeps its strings in its own module (``bot/texts/<feature>.py``) with two dicts,
``EN`` and ``RU``, holding the same keys; ``MODULES`` below merges them. Texts are Telegram
HTML. Parameters are HTML-escaped when formatted unless wrapped in :class:`Raw`, so user
input can never break the markup. A test checks that both languages have the same keys and
placeholders.
"""

from __future__ import annotations

import html
import string
from collections.abc import Mapping
from typing import Any

from bot.texts import admin, chat, common, documents, faults, images, keys, premium

MODULES = (common, chat, documents, images, keys, premium, admin, faults)

LANGUAGES = ("en", "ru")
DEFAULT_LANGUAGE = "en"

TEXTS: dict[str, dict[str, str]] = {"en": {}, "ru": {}}
for _module in MODULES:
    for _lang, _table in (("en", _module.EN), ("ru", _module.RU)):
        _clash = TEXTS[_lang].keys() & _table.keys()
        if _clash:
            raise RuntimeError(f"duplicate text keys: {sorted(_clash)}")
        TEXTS[_lang].update(_table)


class Raw(str):
    """A parameter that is already safe HTML (built from our own texts)."""

    __slots__ = ()


def pick_language(language_code: str | None) -> str:
    if language_code:
        base = language_code.split("-", 1)[0].lower()
        if base in LANGUAGES:
            return base
    return DEFAULT_LANGUAGE


def _escape(value: Any) -> Any:
    if isinstance(value, Raw):
        return str(value)
    if isinstance(value, str):
        return html.escape(value, quote=False)
    return value


def get_text(lang: str, key: str, /, **params: Any) -> str:
    table = TEXTS.get(lang) or TEXTS[DEFAULT_LANGUAGE]
    template = table.get(key)
    if template is None:
        template = TEXTS[DEFAULT_LANGUAGE][key]
    if not params:
        return template
    return template.format_map({name: _escape(value) for name, value in params.items()})


def plural_form(lang: str, n: int) -> int:
    """Which form a count takes: English one|other (0, 1); Russian one|few|many (0, 1, 2):
    1, 21, 101 день; 2-4, 22-24 дня; 0, 5-20, 25-30, 111-114 дней."""
    n = abs(n)
    if lang != "ru":
        return 0 if n == 1 else 1
    if n % 10 == 1 and n % 100 != 11:
        return 0
    if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
        return 1
    return 2


def placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


class Translator:
    """``t("key", name=value)`` in one language; handlers receive it as ``t``."""

    __slots__ = ("lang",)

    def __init__(self, lang: str) -> None:
        self.lang = lang if lang in LANGUAGES else DEFAULT_LANGUAGE

    def __call__(self, key: str, /, **params: Any) -> str:
        return get_text(self.lang, key, **params)

    def plural(self, key: str, n: int) -> str:
        """``n`` with the right form of a counted word: ``key``'s text holds the forms,
        separated by "|", each with ``{n}`` (see :func:`plural_form` for their order)."""
        forms = get_text(self.lang, key).split("|")
        return forms[min(plural_form(self.lang, n), len(forms) - 1)].format(n=n)

    @classmethod
    def for_code(cls, language_code: str | None) -> Translator:
        return cls(pick_language(language_code))


def all_languages(key: str) -> Mapping[str, str]:
    return {lang: TEXTS[lang][key] for lang in LANGUAGES}
