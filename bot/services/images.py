"""Image options: parsing the command line, validating against the documented ranges, the
user's stored defaults, and the upstream's catalogue of models, samplers and loras.

Everything here runs before a quota unit is spent, so a bad value costs the user nothing and
never reaches the upstream. Nothing here knows about Telegram.

Command-line syntax (``/image a fox in snow --steps 25 --neg blurry, low quality``):

- the prompt is the text before the first option (plus any words left after a one-word
  option's value);
- ``--model``, ``--size``, ``--width``, ``--height``, ``--steps``, ``--cfg`` and ``--lora`` take
  one word (or a quoted phrase); ``--lora`` may repeat;
- ``--neg`` and ``--sampler`` take everything up to the next option (or a quoted phrase);
- ``—`` and ``–`` work as ``--`` (phones turn ``--`` into a dash), ``--steps=25`` works too.
"""

from __future__ import annotations

import asyncio
import difflib
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Self

from bot.clients.visioncraft import ImageClient
from bot.services import clock
from bot.services.errors import UpstreamError
from bot.services.image_errors import BadOption, CatalogueUnavailable, UnknownName
from storage import images as images_repo
from storage.db import Database
from storage.users import UserRow

logger = logging.getLogger(__name__)

# Documented ranges of POST /sd.
PROMPT_MAX = 1000
NEGATIVE_MAX = 1000
STEPS_MIN, STEPS_MAX = 1, 35
SIDE_MIN, SIDE_MAX, SIDE_STEP = 64, 1024, 8
CFG_MIN, CFG_MAX = 1, 30
LORAS_MAX = 5
LORA_WEIGHT_MIN, LORA_WEIGHT_MAX = -2.0, 2.0
NAME_MAX = 100

SIZE_PRESETS: Mapping[str, tuple[int, int]] = {
    "square": (1024, 1024),
    "portrait": (768, 1024),
    "landscape": (1024, 768),
}
STEP_PRESETS: tuple[int, ...] = (10, 20, 25, 30, 35)
DEFAULT_STEPS = 30
DEFAULT_CFG = 7

CATALOGUE_KINDS = ("models", "samplers", "loras")


# -- settings and requests -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ImageSettings:
    """A user's defaults, stored as JSON in ``users.image_settings``."""

    model: str | None = None  # None: the operator's IMAGE_MODEL
    sampler: str | None = None  # None: the upstream's default sampler
    width: int = SIZE_PRESETS["square"][0]
    height: int = SIZE_PRESETS["square"][1]
    steps: int = DEFAULT_STEPS
    cfg_scale: int = DEFAULT_CFG
    negative_prompt: str = ""
    loras: tuple[tuple[str, float], ...] = ()

    @property
    def size_preset(self) -> str | None:
        for name, size in SIZE_PRESETS.items():
            if size == (self.width, self.height):
                return name
        return None

    def to_json(self) -> str:
        data: dict[str, Any] = {
            "width": self.width,
            "height": self.height,
            "steps": self.steps,
            "cfg_scale": self.cfg_scale,
        }
        if self.model:
            data["model"] = self.model
        if self.sampler:
            data["sampler"] = self.sampler
        if self.negative_prompt:
            data["negative_prompt"] = self.negative_prompt
        if self.loras:
            data["loras"] = dict(self.loras)
        return json.dumps(data, ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_json(cls, raw: str | None) -> ImageSettings:
        """Lenient: a field that is missing or no longer valid falls back to its default."""
        try:
            data = json.loads(raw or "{}")
        except (TypeError, ValueError):
            data = {}
        if not isinstance(data, dict):
            data = {}
        values: dict[str, Any] = {}
        for key, check in _STORED_FIELDS.items():
            if key not in data:
                continue
            try:
                values[key] = check(data[key])
            except (BadOption, TypeError, ValueError):
                logger.debug("ignoring stored image setting %s=%r", key, data[key])
        return cls(**values)

    def apply(self, overrides: Mapping[str, Any]) -> ImageSettings:
        return replace(self, **overrides)


@dataclass(frozen=True, slots=True)
class ImageRequest:
    prompt: str
    model: str
    sampler: str | None = None
    width: int = SIZE_PRESETS["square"][0]
    height: int = SIZE_PRESETS["square"][1]
    steps: int = DEFAULT_STEPS
    cfg_scale: int = DEFAULT_CFG
    negative_prompt: str = ""
    loras: tuple[tuple[str, float], ...] = ()

    @classmethod
    def from_settings(cls, prompt: str, settings: ImageSettings, default_model: str) -> Self:
        return cls(
            prompt=prompt,
            model=settings.model or default_model,
            sampler=settings.sampler,
            width=settings.width,
            height=settings.height,
            steps=settings.steps,
            cfg_scale=settings.cfg_scale,
            negative_prompt=settings.negative_prompt,
            loras=settings.loras,
        )

    def payload(self) -> dict[str, Any]:
        """The body of POST /sd (without the token)."""
        body: dict[str, Any] = {
            "model": self.model,
            "prompt": self.prompt,
            "steps": self.steps,
            "width": self.width,
            "height": self.height,
            "cfg_scale": self.cfg_scale,
            "loras": dict(self.loras),
        }
        if self.sampler:
            body["sampler"] = self.sampler
        if self.negative_prompt:
            body["negative_prompt"] = self.negative_prompt
        return body


# -- validators (also used for stored settings) --------------------------------------------


def _int_in(option: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool):
        raise BadOption(option, value)
    if isinstance(value, str):
        text = value.strip()
        if not re.fullmatch(r"[+-]?\d{1,6}", text):
            raise BadOption(option, value)
        number = int(text)
    elif isinstance(value, int):
        number = value
    else:
        raise BadOption(option, value)
    if not low <= number <= high:
        raise BadOption(option, value)
    return number


def check_steps(value: Any) -> int:
    return _int_in("steps", value, STEPS_MIN, STEPS_MAX)


def check_cfg(value: Any) -> int:
    return _int_in("cfg", value, CFG_MIN, CFG_MAX)


def check_side(option: str, value: Any) -> int:
    number = _int_in(option, value, SIDE_MIN, SIDE_MAX)
    if number % SIDE_STEP:
        raise BadOption(option, value)
    return number


def check_size(value: str) -> tuple[int, int]:
    text = value.strip().lower()
    if text in SIZE_PRESETS:
        return SIZE_PRESETS[text]
    match = re.fullmatch(r"(\d{1,5})\s*[x×х*]\s*(\d{1,5})", text)
    if match is None:
        raise BadOption("size", value)
    try:
        return check_side("size", match[1]), check_side("size", match[2])
    except BadOption:
        raise BadOption("size", value) from None


def check_name(option: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip() or len(value.strip()) > NAME_MAX:
        raise BadOption(option, value)
    return value.strip()


def check_negative(value: Any) -> str:
    if not isinstance(value, str):
        raise BadOption("neg", value)
    text = value.strip()
    if len(text) > NEGATIVE_MAX:
        raise BadOption("neg", f"{len(text)}")
    return text


def check_lora(value: str) -> tuple[str, float]:
    """``name`` or ``name:weight`` (weight -2…2, default 1)."""
    name, sep, weight_text = value.strip().rpartition(":")
    if not sep:
        name, weight_text = value.strip(), "1"
    return _lora_pair(name, weight_text, value)


def _lora_pair(name: Any, weight: Any, shown: Any) -> tuple[str, float]:
    if not isinstance(name, str) or not name.strip() or len(name.strip()) > NAME_MAX:
        raise BadOption("lora", shown)
    if isinstance(weight, bool):
        raise BadOption("lora", shown)
    try:
        number = float(weight.replace(",", ".")) if isinstance(weight, str) else float(weight)
    except (TypeError, ValueError):
        raise BadOption("lora", shown) from None
    if not LORA_WEIGHT_MIN <= number <= LORA_WEIGHT_MAX:
        raise BadOption("lora", shown)
    return name.strip(), round(number, 3)


def check_loras(value: Any) -> tuple[tuple[str, float], ...]:
    """A mapping or pairs of name -> weight; at most LORAS_MAX distinct names."""
    if isinstance(value, Mapping):
        pairs = list(value.items())
    elif isinstance(value, list | tuple) and all(
        isinstance(p, list | tuple) and len(p) == 2 for p in value
    ):
        pairs = list(value)
    else:
        raise BadOption("lora", value)
    merged = dict(_lora_pair(name, weight, f"{name}:{weight}") for name, weight in pairs)
    if len(merged) > LORAS_MAX:
        raise BadOption("loras", len(merged))
    return tuple(merged.items())


def check_prompt(prompt: str) -> str:
    text = prompt.strip()
    if not text:
        raise BadOption("prompt_empty")
    if len(text) > PROMPT_MAX:
        raise BadOption("prompt", len(text))
    return text


_STORED_FIELDS: dict[str, Callable[[Any], Any]] = {
    "model": lambda v: check_name("model", v),
    "sampler": lambda v: check_name("sampler", v),
    "width": lambda v: check_side("width", v),
    "height": lambda v: check_side("height", v),
    "steps": check_steps,
    "cfg_scale": check_cfg,
    "negative_prompt": check_negative,
    "loras": check_loras,
}


# -- command line --------------------------------------------------------------------------

_ALIASES = {
    "model": "model",
    "m": "model",
    "size": "size",
    "width": "width",
    "height": "height",
    "steps": "steps",
    "cfg": "cfg",
    "cfg_scale": "cfg",
    "cfg-scale": "cfg",
    "neg": "neg",
    "negative": "neg",
    "negative_prompt": "neg",
    "no": "neg",
    "sampler": "sampler",
    "lora": "lora",
}
_TEXT_OPTIONS = frozenset({"neg", "sampler"})
_OPTION_RE = re.compile(r"(?<!\S)(--|—|–)([A-Za-z][A-Za-z_-]*)(?:=|(?=\s)|$)")
_QUOTES = {'"': '"', "'": "'", "“": "”", "«": "»", "„": "“", "”": "”"}


@dataclass(frozen=True, slots=True)
class Parsed:
    prompt: str
    overrides: dict[str, Any] = field(default_factory=dict)
    has_options: bool = False


def _take_quoted(text: str) -> tuple[str, str] | None:
    if not text or text[0] not in _QUOTES:
        return None
    end = text.find(_QUOTES[text[0]], 1)
    if end < 0:
        return None
    return text[1:end], text[end + 1 :]


def _split_value(option: str, raw: str) -> tuple[str, str]:
    """(value, leftover words that belong to the prompt)."""
    raw = raw.strip()
    quoted = _take_quoted(raw)
    if quoted is not None:
        return quoted[0].strip(), quoted[1]
    if option in _TEXT_OPTIONS:
        return raw, ""
    value, _, rest = raw.partition(" ")
    return value.strip(), rest


def parse_command(text: str) -> Parsed:
    """Split ``/image`` arguments into the prompt and option overrides (field names of
    :class:`ImageSettings`). Raises :class:`BadOption` for an unknown option or a bad value."""
    text = " ".join((text or "").split())  # one line, single spaces
    # "--anything" is an option (unknown ones are refused); a dash only starts a known one,
    # so a prompt like "a cat —fluffy" keeps its dash.
    matches = [m for m in _OPTION_RE.finditer(text) if m[1] == "--" or m[2].lower() in _ALIASES]
    prompt_parts = [text[: matches[0].start()] if matches else text]
    overrides: dict[str, Any] = {}
    loras: list[tuple[str, float]] = []
    for index, match in enumerate(matches):
        name = match[2].lower()
        option = _ALIASES.get(name)
        if option is None:
            raise BadOption("option", name)
        end = matches[index + 1].start() if index + 1 < len(matches) else len(text)
        value, rest = _split_value(option, text[match.end() : end])
        prompt_parts.append(rest)
        if not value and option != "neg":
            raise BadOption(option, "")
        if option == "model":
            overrides["model"] = check_name("model", value)
        elif option == "sampler":
            overrides["sampler"] = check_name("sampler", value)
        elif option == "size":
            overrides["width"], overrides["height"] = check_size(value)
        elif option == "width":
            overrides["width"] = check_side("width", value)
        elif option == "height":
            overrides["height"] = check_side("height", value)
        elif option == "steps":
            overrides["steps"] = check_steps(value)
        elif option == "cfg":
            overrides["cfg_scale"] = check_cfg(value)
        elif option == "neg":
            overrides["negative_prompt"] = check_negative(value)
        elif option == "lora":
            loras.append(check_lora(value))
    if loras:
        overrides["loras"] = check_loras(loras)
    prompt = " ".join(" ".join(part.split()) for part in prompt_parts if part.strip())
    return Parsed(prompt=prompt, overrides=overrides, has_options=bool(matches))


# -- catalogue -----------------------------------------------------------------------------


class Catalogue:
    """Model, sampler and lora lists from the upstream, cached for ``ttl`` seconds.

    One fetch at a time per list. When a refresh fails the old list is kept (and retried after
    ``retry_after`` seconds); with no list at all :class:`CatalogueUnavailable` is raised, and
    raised again without asking the upstream for ``retry_after`` seconds (the HTTP API serves
    these lists to anyone: a failing upstream is not asked once per request).
    """

    def __init__(
        self,
        client: ImageClient,
        *,
        ttl: float = 3600.0,
        retry_after: float = 60.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.ttl = ttl
        self.retry_after = retry_after
        self._monotonic = monotonic
        self._lists: dict[str, list[str]] = {}
        self._due: dict[str, float] = {}
        self._locks = {kind: asyncio.Lock() for kind in CATALOGUE_KINDS}

    def _fetcher(self, kind: str) -> Callable[[], Awaitable[list[str]]]:
        return {
            "models": self.client.list_models,
            "samplers": self.client.list_samplers,
            "loras": self.client.list_loras,
        }[kind]

    def cached(self, kind: str) -> list[str] | None:
        return self._lists.get(kind)

    def invalidate(self) -> None:
        """Refresh every list on its next use (the cached lists stay as a fallback)."""
        self._due.clear()

    def _fresh(self, kind: str) -> bool:
        return kind in self._lists and self._monotonic() < self._due.get(kind, 0.0)

    def _resting(self, kind: str) -> bool:
        """No list, and the last fetch failed less than ``retry_after`` seconds ago."""
        return kind not in self._lists and self._monotonic() < self._due.get(kind, 0.0)

    async def get(self, kind: str) -> list[str]:
        if self._fresh(kind):
            return self._lists[kind]
        async with self._locks[kind]:
            if self._fresh(kind):
                return self._lists[kind]
            if self._resting(kind):
                raise CatalogueUnavailable(f"no {kind} list")
            try:
                names = await self._fetcher(kind)()
            except UpstreamError:
                self._due[kind] = self._monotonic() + self.retry_after
                if kind in self._lists:
                    logger.warning("keeping the cached %s list: refresh failed", kind)
                    return self._lists[kind]
                raise CatalogueUnavailable(f"no {kind} list") from None
            if not names and kind in self._lists:
                logger.warning("upstream sent an empty %s list; keeping the cached one", kind)
                names = self._lists[kind]
            self._lists[kind] = names
            self._due[kind] = self._monotonic() + self.ttl
            return names

    async def resolve(self, kind: str, name: str) -> str:
        """The upstream's spelling of ``name`` (case-insensitive), or UnknownName with the
        closest matches. If no list can be had, the name is passed on unchecked."""
        try:
            names = await self.get(kind)
        except CatalogueUnavailable:
            logger.warning("%s list unavailable: %r passed on unchecked", kind, name)
            return name
        return resolve_name(kind.rstrip("s"), name, names)


def resolve_name(what: str, name: str, names: list[str]) -> str:
    if name in names:
        return name
    lowered = {n.lower(): n for n in names}
    if name.lower() in lowered:
        return lowered[name.lower()]
    close = difflib.get_close_matches(name.lower(), list(lowered), n=3, cutoff=0.5)
    raise UnknownName(what, name, [lowered[c] for c in close])


# -- the service ---------------------------------------------------------------------------


class ImageService:
    """Builds validated requests from a user's command and stored defaults."""

    def __init__(self, db: Database, catalogue: Catalogue, default_model: str) -> None:
        self.db = db
        self.catalogue = catalogue
        self.default_model = default_model

    def settings_of(self, user: UserRow | None) -> ImageSettings:
        return ImageSettings.from_json(user.image_settings if user else None)

    async def load(self, user_id: int) -> ImageSettings:
        raw = await self.db.fetchval("SELECT image_settings FROM users WHERE id = ?", (user_id,))
        return ImageSettings.from_json(raw)

    async def save(self, user_id: int, settings: ImageSettings) -> None:
        async with self.db.transaction() as conn:
            await images_repo.set_image_settings(conn, user_id, settings.to_json(), clock.now())

    async def build(self, user: UserRow | None, arguments: str) -> ImageRequest:
        """Parse, validate and check names against the catalogue; raises BadOption or
        UnknownName (InvalidInput) before anything is spent."""
        parsed = parse_command(arguments)
        prompt = check_prompt(parsed.prompt)
        settings = self.settings_of(user).apply(parsed.overrides)
        request = ImageRequest.from_settings(prompt, settings, self.default_model)
        return await self.canonical(request)

    async def canonical(self, request: ImageRequest) -> ImageRequest:
        model = await self.catalogue.resolve("models", request.model)
        sampler = request.sampler
        if sampler:
            sampler = await self.catalogue.resolve("samplers", sampler)
        loras = await self._resolve_loras(request.loras)
        return replace(request, model=model, sampler=sampler, loras=loras)

    async def _resolve_loras(
        self, loras: tuple[tuple[str, float], ...]
    ) -> tuple[tuple[str, float], ...]:
        return tuple([(await self.catalogue.resolve("loras", n), w) for n, w in loras])

    async def update_from_command(self, user_id: int, arguments: str) -> ImageSettings:
        """``/settings --steps 25 --neg blurry``: validate and store as the new defaults."""
        parsed = parse_command(arguments)
        if parsed.prompt:
            raise BadOption("settings_text", parsed.prompt)
        overrides = dict(parsed.overrides)
        if "model" in overrides:
            overrides["model"] = await self.catalogue.resolve("models", overrides["model"])
        if overrides.get("sampler"):
            overrides["sampler"] = await self.catalogue.resolve("samplers", overrides["sampler"])
        if "loras" in overrides:
            overrides["loras"] = await self._resolve_loras(overrides["loras"])
        settings = (await self.load(user_id)).apply(overrides)
        await self.save(user_id, settings)
        return settings


def check_gif_prompt(arguments: str) -> str:
    return check_prompt(" ".join((arguments or "").split()))
