"""The test rig's fake upstream, made cheap enough to serve a benchmark.

The rig's ``FakeUpstream`` builds a PNG pixel by pixel and JSON-encodes every stream event
on each request; under load that CPU would be charged to the load generator's process and
steal a core from the bot. Here the bodies are built once and replayed.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web

from tests.fakes.upstream import FakeUpstream, make_gif, make_png


class BenchUpstream(FakeUpstream):
    """``FakeUpstream`` with cached image/GIF bodies and pre-encoded stream events.

    ``stream_tokens`` (when set) is streamed one token per event, ``chunk_delay`` seconds
    apart; otherwise the rig's behaviour applies (``reply`` split in ``chunk_size`` pieces).
    """

    def __init__(self) -> None:
        super().__init__()
        self.stream_tokens: list[str] | None = None
        self._png_cache: tuple[tuple[int, int], bytes] | None = None
        self._gif_cache: tuple[tuple[int, int, int], bytes] | None = None
        self._events: list[bytes] | None = None
        self.streams_started = 0

    def _event(self, delta: dict[str, Any], finish: str | None = None) -> bytes:
        chunk = {
            "id": "chatcmpl-bench",
            "object": "chat.completion.chunk",
            "created": 1700000000,
            "model": "bench",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
        return f"data: {json.dumps(chunk)}\n\n".encode()

    async def _stream(
        self,
        request: web.Request,
        body: dict[str, Any],
        model: str,
        completion_id: str,
        created: int,
    ) -> web.StreamResponse:
        if self.stream_tokens is None:
            return await super()._stream(request, body, model, completion_id, created)
        if self._events is None:
            self._events = [self._event({"content": token}) for token in self.stream_tokens]
        self.streams_started += 1
        response = web.StreamResponse(
            status=200, headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await response.prepare(request)
        await response.write(self._event({"role": "assistant", "content": ""}))
        loop = asyncio.get_running_loop()
        origin = loop.time()
        for index, event in enumerate(self._events):
            # Paced against the clock, not sleep after sleep, so the rate holds under load.
            delay = origin + (index + 1) * self.chunk_delay - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            await response.write(event)
        await response.write(self._event({}, "stop"))
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response

    async def _sd(self, request: web.Request) -> web.Response:
        if self._png_cache is None or self._png_cache[0] != self.image_size:
            self._png_cache = (self.image_size, make_png(*self.image_size))
        return web.Response(body=self._png_cache[1], content_type="image/png")

    async def _gif(self, request: web.Request) -> web.Response:
        key = (*self.gif_size, self.gif_frames)
        if self._gif_cache is None or self._gif_cache[0] != key:
            self._gif_cache = (key, make_gif(self.gif_size[0], self.gif_size[1], self.gif_frames))
        return web.Response(body=self._gif_cache[1], content_type="image/gif")
