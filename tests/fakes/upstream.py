"""``FakeUpstream``: one local aiohttp server playing VisionCraft and Nebula Block.

Endpoints (all on ``up.url``, 127.0.0.1 + random port):

* ``POST /v1/chat/completions`` and ``POST /chat/completions`` – OpenAI-compatible chat
  (so both ``base_url=up.url`` and ``base_url=f"{up.url}/v1"`` work), JSON or SSE stream.
* ``GET /models-llm`` (JSON list of names), ``GET /v1/models`` and ``GET /models`` (OpenAI list).
* ``GET /sd/models``, ``GET /sd/samplers``, ``GET /sd/loras`` (configurable lists).
* ``POST /sd`` -> PNG bytes (``image/png``); ``POST /text2gif`` -> GIF89a (``image/gif``).

Run two instances if a test needs VisionCraft and Nebula to behave differently.
"""

from __future__ import annotations

import asyncio
import json
import struct
import time
import zlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy

if TYPE_CHECKING:
    import httpx

__all__ = [
    "HTML_ERROR_PAGE",
    "PNG_SIGNATURE",
    "FakeUpstream",
    "RecordedRequest",
    "ScriptedUpstream",
    "make_gif",
    "make_png",
]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
HTML_ERROR_PAGE = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)

_JSON_BODY = web.RequestKey("json_body", object)

_DEFAULT_ERRORS: dict[int, dict[str, Any]] = {
    400: {"message": "Bad request", "type": "invalid_request_error", "code": "bad_request"},
    401: {
        "message": "Invalid API key provided",
        "type": "invalid_request_error",
        "code": "invalid_api_key",
    },
    402: {"message": "Insufficient credits", "type": "billing_error", "code": "payment_required"},
    403: {
        "message": "You do not have access to this resource",
        "type": "permission_error",
        "code": "forbidden",
    },
    404: {"message": "Not found", "type": "invalid_request_error", "code": "not_found"},
    429: {
        "message": "Rate limit exceeded, please retry later",
        "type": "rate_limit_error",
        "code": "rate_limit_exceeded",
    },
}


# ------------------------------------------------------------------------------------ images
def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data))
        + kind
        + data
        + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


def make_png(
    width: int = 64, height: int = 64, color: tuple[int, int, int] = (40, 120, 200)
) -> bytes:
    """A valid RGB PNG (a simple gradient over ``color``)."""
    rows = bytearray()
    for y in range(height):
        rows.append(0)  # filter type: none
        for x in range(width):
            rows += bytes(
                (
                    (color[0] + x * 3) % 256,
                    (color[1] + y * 3) % 256,
                    color[2],
                )
            )
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        PNG_SIGNATURE
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(bytes(rows), 9))
        + _png_chunk(b"IEND", b"")
    )


def _gif_frame_data(width: int, height: int, frame: int) -> bytes:
    """LZW data (min code size 2) re-clearing every 2 pixels so codes stay 3 bits wide."""
    clear, end = 4, 5
    codes: list[int] = []
    pixels = [((x // 4 + y // 4 + frame) % 3) + 1 for y in range(height) for x in range(width)]
    for start in range(0, len(pixels), 2):
        codes.append(clear)
        codes.extend(pixels[start : start + 2])
    codes.append(end)
    out = bytearray()
    bit_buffer = 0
    bit_count = 0
    for code in codes:
        bit_buffer |= code << bit_count
        bit_count += 3
        while bit_count >= 8:
            out.append(bit_buffer & 0xFF)
            bit_buffer >>= 8
            bit_count -= 8
    if bit_count:
        out.append(bit_buffer & 0xFF)
    blocks = bytearray([2])  # LZW minimum code size
    for start in range(0, len(out), 255):
        block = out[start : start + 255]
        blocks.append(len(block))
        blocks += block
    blocks.append(0)
    return bytes(blocks)


def make_gif(width: int = 32, height: int = 32, frames: int = 2, delay_cs: int = 20) -> bytes:
    """A valid looping GIF89a animation with ``frames`` frames (4-colour palette)."""
    data = bytearray(b"GIF89a")
    data += struct.pack("<HHBBB", width, height, 0x91, 0, 0)  # global colour table, 4 colours
    data += bytes((0, 0, 0, 230, 60, 60, 60, 200, 90, 50, 90, 230))
    data += b"\x21\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00"  # loop forever
    for frame in range(frames):
        data += b"\x21\xf9\x04\x04" + struct.pack("<H", delay_cs) + b"\x00\x00"
        data += b"\x2c" + struct.pack("<HHHH", 0, 0, width, height) + b"\x00"
        data += _gif_frame_data(width, height, frame)
    data += b"\x3b"
    return bytes(data)


# ------------------------------------------------------------------------------------ server
class RecordedRequest(NamedTuple):
    """``(path, headers, json_body)``; headers are case-insensitive; body is the parsed JSON
    (raw text if not JSON, ``None`` if empty)."""

    path: str
    headers: CIMultiDictProxy[str]
    json_body: Any


@dataclass
class _Fault:
    status: int
    body: Any
    remaining: int | None
    headers: dict[str, str]
    content_type: str | None


class FakeUpstream:
    """Configurable fake of the VisionCraft + Nebula Block HTTP APIs.

    Attributes (set them in tests):

    * ``reply`` – assistant text, or ``callable(body: dict) -> str``.
    * ``stream_chunks`` – explicit list of content pieces for ``stream: true`` (else the reply
      is split into ``chunk_size``-char pieces); ``chunk_delay`` – seconds before each piece;
      ``keep_alive`` – emit ``: keep-alive`` comment lines; ``break_stream_after`` – abort the
      connection after N content pieces (no ``[DONE]``); ``stall_stream_after`` – stop
      sending (but keep the connection open) after N pieces.
    * ``llm_models`` (``/models-llm``), ``openai_models`` (``/v1/models``, defaults to
      ``llm_models``), ``sd_models``, ``sd_samplers``, ``sd_loras``.
    * ``image_size`` (PNG for ``/sd``), ``gif_size`` / ``gif_frames`` (``/text2gif``).
    * ``requests`` – list of :class:`RecordedRequest`, recorded on arrival.
    """

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self.reply: str | Callable[[dict[str, Any]], str] = "Hello from the fake upstream!"
        self.stream_chunks: list[str] | None = None
        self.chunk_size = 8
        self.chunk_delay = 0.0
        self.keep_alive = False
        self.break_stream_after: int | None = None
        self.stall_stream_after: int | None = None
        self.llm_models: list[Any] = ["gpt-4o-mini", "llama-3.3-70b", "deepseek-v3"]
        self.openai_models: list[str] | None = None
        self.sd_models: list[Any] = ["sdxl-base", "anything-v5", "realistic-vision-v6"]
        self.sd_samplers: list[Any] = ["Euler a", "DPM++ 2M Karras", "DDIM"]
        self.sd_loras: list[Any] = ["detail-tweaker", "add-more-details"]
        self.image_size: tuple[int, int] = (64, 64)
        self.gif_size: tuple[int, int] = (32, 32)
        self.gif_frames = 2
        self.requests: list[RecordedRequest] = []
        self._faults: dict[str, deque[_Fault]] = {}
        self._hangs: dict[str, float] = {}
        self._delays: dict[str, float] = {}
        self._runner: web.AppRunner | None = None
        self._closing = asyncio.Event()

    # ------------------------------------------------------------------------------ lifecycle
    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:54321`` (no trailing slash)."""
        if self._runner is None:
            raise RuntimeError("FakeUpstream is not started")
        return f"http://{self.host}:{self.port}"

    async def start(self) -> FakeUpstream:
        app = web.Application(client_max_size=32 * 1024 * 1024)
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/chat/completions", self._chat)
        app.router.add_get("/models-llm", self._models_llm)
        app.router.add_get("/v1/models", self._openai_models)
        app.router.add_get("/models", self._openai_models)
        app.router.add_get("/sd/models", self._list_handler("sd_models"))
        app.router.add_get("/sd/samplers", self._list_handler("sd_samplers"))
        app.router.add_get("/sd/loras", self._list_handler("sd_loras"))
        app.router.add_post("/sd", self._sd)
        app.router.add_post("/text2gif", self._gif)
        app.middlewares.append(self._middleware)
        self._closing = asyncio.Event()
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        return self

    async def stop(self) -> None:
        self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeUpstream:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # --------------------------------------------------------------------------- fault config
    @staticmethod
    def _norm(path: str) -> str:
        return path if path == "*" or path.startswith("/") else "/" + path

    def fail(
        self,
        path: str,
        status: int = 500,
        body: Any = None,
        times: int | None = None,
        *,
        headers: dict[str, str] | None = None,
        content_type: str | None = None,
    ) -> None:
        """Answer requests to ``path`` (exact, or ``"*"``) with an error.

        ``body``: ``None`` -> OpenAI-style JSON error for ``status`` (empty body if status is
        200); dict/list -> JSON (e.g. ``{"error": "..."}`` with ``status=200``); str -> text
        (``text/html`` if it starts with ``<``, see ``HTML_ERROR_PAGE``); bytes -> raw;
        ``""`` -> empty body.  ``times=None`` -> until :meth:`clear_faults`.  429 answers
        carry ``Retry-After: 1`` unless ``headers`` say otherwise.
        """
        key = self._norm(path)
        fault = _Fault(status, body, times, dict(headers or {}), content_type)
        self._faults.setdefault(key, deque()).append(fault)

    def hang(self, path: str, seconds: float = 3600.0) -> None:
        """Requests to ``path`` wait ``seconds`` before being processed (stop() releases)."""
        self._hangs[self._norm(path)] = seconds

    def delay(self, path: str, seconds: float) -> None:
        """Requests to ``path`` are answered normally after ``seconds``."""
        self._delays[self._norm(path)] = seconds

    def clear_faults(self, path: str | None = None) -> None:
        """Remove fail/hang/delay settings for ``path`` (all paths when ``None``)."""
        for table in (self._faults, self._hangs, self._delays):
            if path is None:
                table.clear()
            else:
                table.pop(self._norm(path), None)

    def requests_to(self, path: str) -> list[RecordedRequest]:
        key = self._norm(path)
        return [r for r in self.requests if r.path == key]

    # ----------------------------------------------------------------------------- plumbing
    def _lookup(self, table: dict[str, Any], path: str) -> Any:
        if path in table:
            return table[path]
        return table.get("*")

    def _take_fault(self, path: str) -> _Fault | None:
        for key in (path, "*"):
            queue = self._faults.get(key)
            if not queue:
                continue
            fault = queue[0]
            if fault.remaining is not None:
                fault.remaining -= 1
                if fault.remaining <= 0:
                    queue.popleft()
            return fault
        return None

    async def _sleep(self, seconds: float) -> bool:
        """Sleep unless the server is stopping; returns False when interrupted by stop()."""
        try:
            await asyncio.wait_for(self._closing.wait(), seconds)
        except TimeoutError:
            return True
        return False

    @staticmethod
    def _fault_response(fault: _Fault) -> web.Response:
        headers = dict(fault.headers)
        if fault.status == 429:
            headers.setdefault("Retry-After", "1")
        body = fault.body
        if body is None:
            if fault.status == 200:
                body = ""
            else:
                error = _DEFAULT_ERRORS.get(
                    fault.status,
                    {"message": "Internal server error", "type": "server_error", "code": None},
                )
                body = {"error": dict(error)}
        if isinstance(body, dict | list):
            return web.Response(
                status=fault.status,
                text=json.dumps(body),
                content_type=fault.content_type or "application/json",
                headers=headers,
            )
        if isinstance(body, bytes):
            content_type = fault.content_type or "application/octet-stream"
            return web.Response(
                status=fault.status, body=body, content_type=content_type, headers=headers
            )
        text = str(body)
        if fault.content_type:
            content_type = fault.content_type
        elif not text:
            content_type = "application/json"
        elif text.lstrip().startswith("<"):
            content_type = "text/html"
        else:
            content_type = "text/plain"
        return web.Response(
            status=fault.status, text=text, content_type=content_type, headers=headers
        )

    @web.middleware
    async def _middleware(
        self, request: web.Request, handler: Callable[[web.Request], Any]
    ) -> web.StreamResponse:
        body: Any = None
        if request.body_exists:
            raw = await request.read()
            text = raw.decode("utf-8", errors="replace")
            try:
                body = json.loads(text) if text else None
            except ValueError:
                body = text
        request[_JSON_BODY] = body
        headers = CIMultiDictProxy(CIMultiDict(request.headers))
        self.requests.append(RecordedRequest(request.path, headers, body))
        hang = self._lookup(self._hangs, request.path)
        if hang is not None and not await self._sleep(hang):
            return web.Response(status=503, text="fake upstream is shutting down")
        delay = self._lookup(self._delays, request.path)
        if delay and not await self._sleep(delay):
            return web.Response(status=503, text="fake upstream is shutting down")
        fault = self._take_fault(request.path)
        if fault is not None:
            return self._fault_response(fault)
        return await handler(request)

    # ----------------------------------------------------------------------------- handlers
    def _reply_text(self, body: dict[str, Any]) -> str:
        reply = self.reply
        return reply(body) if callable(reply) else str(reply)

    def _chunks(self, text: str) -> list[str]:
        if self.stream_chunks is not None:
            return list(self.stream_chunks)
        size = max(1, self.chunk_size)
        return [text[i : i + size] for i in range(0, len(text), size)] or [""]

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = request[_JSON_BODY]
        if not isinstance(body, dict):
            return self._fault_response(
                _Fault(400, {"error": {"message": "Invalid JSON body"}}, None, {}, None)
            )
        model = str(body.get("model") or "fake-model")
        completion_id = f"chatcmpl-fake{len(self.requests):06d}"
        created = int(time.time())
        if body.get("stream"):
            return await self._stream(request, body, model, completion_id, created)
        text = self._reply_text(body)
        prompt_tokens = len(json.dumps(body.get("messages", [])).split())
        completion_tokens = len(text.split())
        return web.json_response(
            {
                "id": completion_id,
                "object": "chat.completion",
                "created": created,
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": text},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": completion_tokens,
                    "total_tokens": prompt_tokens + completion_tokens,
                },
            }
        )

    async def _stream(
        self,
        request: web.Request,
        body: dict[str, Any],
        model: str,
        completion_id: str,
        created: int,
    ) -> web.StreamResponse:
        def event(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
            chunk = {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
                **extra,
            }
            return f"data: {json.dumps(chunk)}\n\n".encode()

        text = "" if self.stream_chunks is not None else self._reply_text(body)
        pieces = self._chunks(text)
        response = web.StreamResponse(
            status=200,
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"},
        )
        await response.prepare(request)
        if self.keep_alive:
            await response.write(b": keep-alive\n\n")
        await response.write(event({"role": "assistant", "content": ""}))
        for index, piece in enumerate(pieces):
            if self.break_stream_after is not None and index >= self.break_stream_after:
                if request.transport is not None:
                    request.transport.close()
                return response
            if self.stall_stream_after is not None and index >= self.stall_stream_after:
                await self._sleep(3600)
                return response
            if self.chunk_delay:
                await asyncio.sleep(self.chunk_delay)
            await response.write(event({"content": piece}))
            if self.keep_alive:
                await response.write(b": keep-alive\n\n")
        extra: dict[str, Any] = {}
        options = body.get("stream_options")
        if isinstance(options, dict) and options.get("include_usage"):
            completion_tokens = len("".join(pieces).split())
            extra["usage"] = {
                "prompt_tokens": 1,
                "completion_tokens": completion_tokens,
                "total_tokens": completion_tokens + 1,
            }
        await response.write(event({}, "stop", **extra))
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response

    async def _models_llm(self, request: web.Request) -> web.Response:
        return web.json_response(self.llm_models)

    async def _openai_models(self, request: web.Request) -> web.Response:
        names = self.openai_models if self.openai_models is not None else self.llm_models
        data = [
            {"id": str(name), "object": "model", "created": 1700000000, "owned_by": "fake"}
            for name in names
        ]
        return web.json_response({"object": "list", "data": data})

    def _list_handler(self, attribute: str) -> Callable[[web.Request], Any]:
        async def handler(request: web.Request) -> web.Response:
            return web.json_response(getattr(self, attribute))

        return handler

    async def _sd(self, request: web.Request) -> web.Response:
        width, height = self.image_size
        return web.Response(body=make_png(width, height), content_type="image/png")

    async def _gif(self, request: web.Request) -> web.Response:
        width, height = self.gif_size
        return web.Response(body=make_gif(width, height, self.gif_frames), content_type="image/gif")


# ------------------------------------------------------------------------- scripted answers
Responder = Callable[["httpx.Request"], "httpx.Response"]


class ScriptedUpstream:
    """A server on 127.0.0.1 whose every answer is written by a test, the way an
    ``httpx.MockTransport`` handler is: ``responder(request) -> httpx.Response``, where the
    request is rebuilt as an ``httpx.Request`` (its URL is this server's).

    The response's status, headers and body go out over real HTTP (a body given as an async
    iterator is sent chunk by chunk as it is produced). Faults a responder can ask for:

    * raise ``httpx.ConnectError`` (or ``ConnectTimeout``): the connection is closed before
      any answer;
    * raise ``httpx.ReadTimeout``: no answer at all (until the client gives up);
    * a body iterator that raises: the connection is cut mid-body.
    """

    def __init__(self, responder: Responder | None = None) -> None:
        self.responder = responder
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> ScriptedUpstream:
        app = web.Application(client_max_size=32 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        # Cancelled handlers: a client that goes away ends the body it was being sent.
        self._runner = web.AppRunner(
            app, access_log=None, shutdown_timeout=0.5, handler_cancellation=True
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        import httpx

        body = await request.read()
        rebuilt = httpx.Request(
            request.method, str(request.url), headers=list(request.headers.items()), content=body
        )
        if self.responder is None:
            raise RuntimeError("ScriptedUpstream.responder is not set")
        try:
            answer = self.responder(rebuilt)
        except (httpx.ConnectError, httpx.ConnectTimeout):
            if request.transport is not None:
                request.transport.close()
            return web.Response(status=599)
        except httpx.ReadTimeout:
            await asyncio.sleep(3600)
            return web.Response(status=599)
        headers = CIMultiDict(
            (name, value)
            for name, value in answer.headers.multi_items()
            if name.lower() not in {"content-length", "transfer-encoding"}
        )
        response = web.StreamResponse(status=answer.status_code, headers=headers)
        await response.prepare(request)
        try:
            async for chunk in answer.stream:  # type: ignore[union-attr]
                await response.write(chunk)
        except httpx.HTTPError:
            if request.transport is not None:
                request.transport.close()
            return response
        await response.write_eof()
        return response
