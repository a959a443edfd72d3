"""A scriptable VisionCraft for in-process handler tests (an httpx.MockTransport handler).

Unlike the HTTP ``FakeUpstream`` it can hold a generation open until the test releases it,
so queue, busy and cancel scenarios need no sleeps.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from typing import Any

import httpx

from tests.media_samples import gif, png

KEY = "vc-operator-key-0123456789"


class ImagesUpstream:
    def __init__(self) -> None:
        self.lists: dict[str, list[str]] = {
            "/sd/models": ["sdxl-base", "deliberate_v2", "dreamshaper_8"],
            "/sd/samplers": ["Euler a", "Euler", "DPM++ 2M Karras"],
            "/sd/loras": ["add_detail", "analog_diffusion_1.0"],
        }
        self.image = png(64, 48)
        self.gif = gif(32, 32)
        self.requests: list[tuple[str, Any]] = []
        self.scripted: deque[httpx.Response] = deque()
        self.hold = False  # generations wait for release()
        self._released = asyncio.Event()
        self._arrived = asyncio.Event()

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)

    def next(self, response: httpx.Response) -> None:
        """The next generation answers ``response``."""
        self.scripted.append(response)

    def release(self) -> None:
        self._released.set()

    def generations(self, path: str = "/sd") -> list[Any]:
        return [body for p, body in self.requests if p == path]

    async def wait_generation(self, count: int = 1, path: str | None = None) -> None:
        while len([p for p, _ in self.requests if path in (None, p) and p in _GEN]) < count:
            self._arrived.clear()
            await self._arrived.wait()

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        body = json.loads(request.content) if request.content else None
        self.requests.append((path, body))
        self._arrived.set()
        if path in self.lists:
            return httpx.Response(200, json=self.lists[path])
        if path not in _GEN:
            return httpx.Response(404, text="not here")
        if self.hold:
            await self._released.wait()
        if self.scripted:
            return self.scripted.popleft()
        content = self.image if path == "/sd" else self.gif
        kind = "image/png" if path == "/sd" else "image/gif"
        return httpx.Response(200, content=content, headers={"content-type": kind})


_GEN = ("/sd", "/text2gif")
