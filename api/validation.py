"""Request bodies checked against the documented ranges before anything is spent or sent.

Each check raises :class:`api.errors.ApiError` (400) naming the parameter, in OpenAI's
words where OpenAI has them, whatever JSON it is given (any type anywhere, any depth). The
ranges are VisionCraft's.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

from api.errors import ApiError, bad_request, missing

# name: (kind, minimum, maximum) -- kind "int" or "number"
CHAT_RANGES: dict[str, tuple[str, float, float]] = {
    "max_tokens": ("int", 128, 100_000),
    "max_completion_tokens": ("int", 128, 100_000),
    "temperature": ("number", 0, 100),
    "top_p": ("number", 0, 1),
    "top_k": ("int", 0, 99_999),
    "repetition_penalty": ("number", 0.01, 5),
    "presence_penalty": ("number", -2, 2),
    "frequency_penalty": ("number", -2, 2),
}
SD_RANGES: dict[str, tuple[str, float, float]] = {
    "steps": ("int", 1, 35),
    "width": ("int", 64, 1024),
    "height": ("int", 64, 1024),
    "cfg_scale": ("number", 1, 30),
}
ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
MAX_MESSAGES = 1000
MAX_NAME = 200
PROMPT_MAX = 1000
LORAS_MAX = 5
SIDE_STEP = 8


# The escape of a UTF-16 surrogate. A pair of them is one character (an emoji from a client
# that escapes everything outside ASCII); one alone is not Unicode and could not be sent on.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def parse_json(raw: bytes | bytearray) -> Any:
    """The body as JSON. Strict UTF-8 (a byte order mark is allowed); NaN and Infinity,
    which are not JSON, nesting too deep for Python's parser and surrogates (escaped alone,
    ``"\\ud800"``, or encoded) are refused like any invalid JSON: all of it could be sent on."""
    try:
        if raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        # Decoded here, strictly: json.loads would take UTF-16 and encoded surrogates.
        value = json.loads(
            raw.decode(),
            parse_constant=_no_constant,
            parse_float=_finite_float,
        )
        if _SURROGATE_ESCAPE.search(raw):  # rare: only then is every string checked
            json.dumps(value, ensure_ascii=False).encode()
        return value
    except UnicodeEncodeError:
        raise bad_request(
            "The request body holds an unpaired surrogate escape (such as \\ud800), which "
            "is not Unicode.",
            code="invalid_json",
        ) from None
    except RecursionError:
        raise bad_request(
            "The request body is nested too deeply to be read.", code="invalid_json"
        ) from None
    except UnicodeDecodeError:
        raise bad_request(
            "The request body is not UTF-8 text, which JSON must be.", code="invalid_json"
        ) from None
    except ValueError:
        raise bad_request("The request body is not valid JSON.", code="invalid_json") from None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e400: no provider could read it back
        raise ValueError(f"{text[:20]} is out of range")
    return value


def encode_json(body: Any) -> bytes:
    """``body`` (parsed by :func:`parse_json`, so it holds only Unicode) as compact UTF-8
    JSON."""
    try:
        return json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
    except RecursionError:
        raise bad_request(
            "The request body is nested too deeply to be read.", code="invalid_json"
        ) from None


def upstream_body(body: dict[str, Any]) -> dict[str, Any]:
    """The checked chat body as the provider gets it: ``max_completion_tokens`` (newer
    OpenAI clients) becomes ``max_tokens``, the only name the providers know."""
    if "max_completion_tokens" not in body:
        return body
    body = dict(body)
    value = body.pop("max_completion_tokens")
    if value is not None:
        body["max_tokens"] = value
    return body


def require_object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object.", code="invalid_json")
    return body


def _number(name: str, value: Any, kind: str, low: float, high: float) -> int | float:
    what = "an integer" if kind == "int" else "a number"
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise bad_request(
            f"Invalid type for '{name}': expected {what}, got {_type_name(value)}.",
            param=name,
            code="invalid_type",
        )
    if isinstance(value, float) and not math.isfinite(value):
        raise bad_request(f"Invalid '{name}': expected a finite number.", param=name)
    if kind == "int" and isinstance(value, float):
        if not value.is_integer():
            raise bad_request(
                f"Invalid type for '{name}': expected an integer, got {value!r}.",
                param=name,
                code="invalid_type",
            )
        value = int(value)
    if not low <= value <= high:
        raise bad_request(
            f"Invalid '{name}': {value!r} is out of range; expected {what} "
            f"from {_fmt(low)} to {_fmt(high)}.",
            param=name,
        )
    number: int | float = value
    return number


def _fmt(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    return {
        bool: "a boolean",
        str: "a string",
        list: "an array",
        dict: "an object",
        int: "an integer",
        float: "a number",
    }.get(type(value), type(value).__name__)


def _string(body: dict[str, Any], name: str, *, required: bool, max_len: int) -> str | None:
    value = body.get(name)
    if value is None:
        if required:
            raise missing(name)
        return None
    if not isinstance(value, str):
        raise bad_request(
            f"Invalid type for '{name}': expected a string, got {_type_name(value)}.",
            param=name,
            code="invalid_type",
        )
    if required and not value.strip():
        raise bad_request(f"Invalid '{name}': must not be empty.", param=name)
    if len(value) > max_len:
        raise bad_request(
            f"Invalid '{name}': {len(value)} characters; at most {max_len} are allowed.",
            param=name,
            code="string_above_max_length",
        )
    return value


# -- chat ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChatRequest:
    model: str
    stream: bool
    has_images: bool


def check_chat(body: Any) -> ChatRequest:
    body = require_object(body)
    model = _string(body, "model", required=True, max_len=MAX_NAME)
    assert model is not None
    messages = body.get("messages")
    if messages is None:
        raise missing("messages")
    if not isinstance(messages, list):
        raise bad_request(
            f"Invalid type for 'messages': expected an array, got {_type_name(messages)}.",
            param="messages",
            code="invalid_type",
        )
    if not messages:
        raise bad_request(
            "Invalid 'messages': empty array; expected at least one message.",
            param="messages",
            code="empty_array",
        )
    if len(messages) > MAX_MESSAGES:
        raise bad_request(
            f"Invalid 'messages': {len(messages)} messages; at most {MAX_MESSAGES} are allowed.",
            param="messages",
            code="array_above_max_length",
        )
    has_images = False
    for index, message in enumerate(messages):
        has_images = _check_message(index, message) or has_images
    for name, (kind, low, high) in CHAT_RANGES.items():
        value = body.get(name)
        if value is not None:
            _number(name, value, kind, low, high)
    both = body.get("max_tokens"), body.get("max_completion_tokens")
    if None not in both and both[0] != both[1]:
        raise bad_request(
            "Give 'max_tokens' or 'max_completion_tokens', not both with different values.",
            param="max_completion_tokens",
        )
    stream = body.get("stream", False)
    if stream is None:
        stream = False
    if not isinstance(stream, bool):
        raise bad_request(
            f"Invalid type for 'stream': expected a boolean, got {_type_name(stream)}.",
            param="stream",
            code="invalid_type",
        )
    n = body.get("n")
    if n is not None and (isinstance(n, bool) or n != 1):
        raise bad_request("Invalid 'n': only one choice (n=1) is supported.", param="n")
    return ChatRequest(model=model, stream=stream, has_images=has_images)


def _check_message(index: int, message: Any) -> bool:
    """Checks one message; returns whether it carries an image."""
    where = f"messages[{index}]"
    if not isinstance(message, dict):
        raise bad_request(
            f"Invalid type for '{where}': expected an object, got {_type_name(message)}.",
            param=where,
            code="invalid_type",
        )
    role = message.get("role")
    if role is None:
        raise missing(f"{where}.role")
    if not isinstance(role, str):
        raise bad_request(
            f"Invalid type for '{where}.role': expected a string, got {_type_name(role)}.",
            param=f"{where}.role",
            code="invalid_type",
        )
    if role not in ROLES:
        raise bad_request(
            f"Invalid value for '{where}.role': {str(role)[:40]!r}; expected one of "
            + ", ".join(sorted(ROLES))
            + ".",
            param=f"{where}.role",
        )
    content = message.get("content")
    if content is None:
        if role == "assistant":
            return False  # an assistant turn that only called tools
        raise missing(f"{where}.content")
    if isinstance(content, str):
        return False
    if not isinstance(content, list):
        raise bad_request(
            f"Invalid type for '{where}.content': expected a string or an array of parts, "
            f"got {_type_name(content)}.",
            param=f"{where}.content",
            code="invalid_type",
        )
    has_image = False
    for number, part in enumerate(content):
        has_image = _check_part(f"{where}.content[{number}]", part) or has_image
    return has_image


def _check_part(where: str, part: Any) -> bool:
    if not isinstance(part, dict):
        raise bad_request(
            f"Invalid type for '{where}': expected an object, got {_type_name(part)}.",
            param=where,
            code="invalid_type",
        )
    kind = part.get("type")
    if kind == "text":
        if not isinstance(part.get("text"), str):
            raise bad_request(f"Invalid '{where}.text': expected a string.", param=f"{where}.text")
        return False
    if kind == "image_url":
        image = part.get("image_url")
        url = image.get("url") if isinstance(image, dict) else image
        if not isinstance(url, str) or not url.startswith(("data:image/", "https://", "http://")):
            raise bad_request(
                f"Invalid '{where}.image_url': expected a data:image/… URL or an http(s) URL.",
                param=f"{where}.image_url",
            )
        return True
    raise bad_request(
        f"Invalid value for '{where}.type': {str(kind)[:40]!r}; expected 'text' or 'image_url'.",
        param=f"{where}.type",
    )


# -- images and GIFs ----------------------------------------------------------------------------


def check_sd(body: dict[str, Any]) -> dict[str, Any]:
    """The /sd parameters to send upstream (without ``token``)."""
    params: dict[str, Any] = {}
    params["model"] = _string(body, "model", required=True, max_len=MAX_NAME)
    params["prompt"] = _string(body, "prompt", required=True, max_len=PROMPT_MAX)
    negative = _string(body, "negative_prompt", required=False, max_len=PROMPT_MAX)
    if negative is not None:
        params["negative_prompt"] = negative
    sampler = _string(body, "sampler", required=False, max_len=MAX_NAME)
    if sampler is not None:
        params["sampler"] = sampler
    for name, (kind, low, high) in SD_RANGES.items():
        value = body.get(name)
        if value is None:
            continue
        value = _number(name, value, kind, low, high)
        if name in ("width", "height") and value % SIDE_STEP:
            raise bad_request(
                f"Invalid '{name}': {value} is not a multiple of {SIDE_STEP}.", param=name
            )
        params[name] = value
    loras = body.get("loras")
    if loras is not None:
        params["loras"] = _check_loras(loras)
    return params


def _check_loras(loras: Any) -> dict[str, float]:
    if not isinstance(loras, dict):
        raise bad_request(
            f"Invalid type for 'loras': expected an object of name: priority, "
            f"got {_type_name(loras)}.",
            param="loras",
            code="invalid_type",
        )
    if len(loras) > LORAS_MAX:
        raise bad_request(
            f"Invalid 'loras': {len(loras)} given; at most {LORAS_MAX} are allowed.",
            param="loras",
        )
    checked: dict[str, float] = {}
    for name, priority in loras.items():
        if not name.strip() or len(name) > MAX_NAME:
            raise bad_request("Invalid 'loras': a lora name is empty or too long.", param="loras")
        checked[name] = _number(f"loras.{name[:40]}", priority, "number", -100, 100)
    return checked


def check_gif(body: dict[str, Any]) -> dict[str, Any]:
    prompt = _string(body, "prompt", required=True, max_len=PROMPT_MAX)
    return {"prompt": prompt}


def too_large(limit: int) -> ApiError:
    return ApiError(
        413,
        f"The request body is larger than {limit} bytes.",
        param=None,
        code="request_too_large",
    )
