"""Personas: the short list of system prompts a conversation can answer with (/persona).

The operator may replace the built-in list with a JSON file named by ``PERSONAS_FILE``::

    {
      "assistant": {"title": {"en": "Assistant", "ru": "Ассистент"}, "prompt": "You are…"},
      "lawyer": {"title": "Lawyer", "prompt": "You explain law…"}
    }

Keys are 1-32 characters of ``a-z 0-9 _ -`` (they go into button data and the database);
a title is a string or an object of language code to string (1-64 characters; ``en`` is the
fallback); a prompt is 1-4000 characters. 1-20 personas; the first is every conversation's
default. A persona with an empty prompt ``""`` is not allowed: use the first one instead.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MAX_PERSONAS = 20
MAX_PROMPT = 4000
MAX_TITLE = 64
_KEY = re.compile(r"[a-z0-9_-]{1,32}")


@dataclass(frozen=True, slots=True)
class Persona:
    key: str
    titles: Mapping[str, str]  # language code -> title; "en" always present
    prompt: str

    def title(self, language: str | None) -> str:
        return self.titles.get(language or "en") or self.titles["en"]


def default_personas(system_prompt: str) -> tuple[Persona, ...]:
    """Assistant (the operator's SYSTEM_PROMPT), coder, translator, tutor."""
    return (
        Persona("assistant", {"en": "Assistant", "ru": "Ассистент"}, system_prompt),
        Persona(
            "coder",
            {"en": "Coder", "ru": "Программист"},
            "You are a senior software engineer. Answer with working, idiomatic code in "
            "fenced code blocks and explain briefly why it works. Ask for missing details "
            "rather than guessing. Answer in the language of the question.",
        ),
        Persona(
            "translator",
            {"en": "Translator", "ru": "Переводчик"},
            "You are a professional translator. Translate the user's text: into English if "
            "it is in another language, otherwise into Russian, unless the user names the "
            "target language. Keep meaning, tone and formatting; reply with the translation "
            "only.",
        ),
        Persona(
            "tutor",
            {"en": "Tutor", "ru": "Репетитор"},
            "You are a patient tutor. Explain step by step with simple examples, use LaTeX "
            "for formulas, check understanding with a short question at the end. Answer in "
            "the language of the question.",
        ),
    )


def load_personas(path: str | None, system_prompt: str) -> tuple[Persona, ...]:
    """The personas from ``path`` (JSON, see the module doc), or the built-in list.

    Raises ValueError with a reason a person can act on.
    """
    if not path:
        return default_personas(system_prompt)
    try:
        data: Any = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise ValueError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(data, dict) or not 1 <= len(data) <= MAX_PERSONAS:
        raise ValueError(f"must be a JSON object of 1-{MAX_PERSONAS} personas")
    personas = []
    for key, item in data.items():
        if not _KEY.fullmatch(key):
            raise ValueError(f"persona key {key!r} must be 1-32 characters of a-z, 0-9, _ and -")
        if not isinstance(item, dict):
            raise ValueError(f"persona {key!r} must be an object with title and prompt")
        prompt = item.get("prompt")
        if not isinstance(prompt, str) or not 1 <= len(prompt.strip()) <= MAX_PROMPT:
            raise ValueError(f"persona {key!r}: prompt must be 1-{MAX_PROMPT} characters")
        personas.append(Persona(key, _titles(key, item.get("title")), prompt.strip()))
    return tuple(personas)


def _titles(key: str, value: Any) -> dict[str, str]:
    titles = {"en": value} if isinstance(value, str) else value
    if not isinstance(titles, dict) or not titles:
        raise ValueError(f"persona {key!r}: title must be a string or an object of languages")
    for language, title in titles.items():
        if not isinstance(title, str) or not 1 <= len(title.strip()) <= MAX_TITLE:
            raise ValueError(f"persona {key!r}: title must be 1-{MAX_TITLE} characters")
        if not re.fullmatch(r"[a-z]{2,3}", str(language)):
            raise ValueError(f"persona {key!r}: {language!r} is not a language code")
    clean = {str(k): str(v).strip() for k, v in titles.items()}
    clean.setdefault("en", next(iter(clean.values())))
    return clean
