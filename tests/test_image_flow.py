"""The image/GIF flow as a service, through a fake front: no Telegram involved."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from bot.clients.visioncraft import Media
from bot.services.cancel import CancelRegistry
from bot.services.errors import UpstreamError
from bot.services.generation import Generations, ResultStore
from bot.services.image_errors import GenerationBusy
from bot.services.image_flow import ImageFlow
from bot.services.images import ImageRequest
from bot.services.media import sniff
from bot.services.quota import QuotaService
from bot.services.users import UserService
from bot.texts import Translator
from bot.tiers import default_limits
from tests.media_samples import png

T = Translator.for_code("en")


class FakeFront:
    chat_id = 77

    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []

    async def notice(self, text: str) -> Any:
        self.events.append(("notice", text))
        return len(self.events)

    async def withdraw(self, handle: Any) -> None:
        self.events.append(("withdraw", handle))

    @asynccontextmanager
    async def working(self, kind: str) -> AsyncIterator[None]:
        self.events.append(("working", kind))
        yield
        self.events.append(("done", kind))

    async def send_image(self, media: Media, caption: str, file_caption: str, token: str) -> None:
        self.events.append(("image", (caption, token)))

    async def send_gif(self, media: Media, caption: str, token: str) -> None:
        self.events.append(("gif", (caption, token)))


class FakeClient:
    def __init__(self, fail: Exception | None = None, wait: asyncio.Event | None = None) -> None:
        self.fail = fail
        self.wait = wait

    async def generate_image(self, payload: dict[str, Any]) -> Media:
        if self.wait is not None:
            await self.wait.wait()
        if self.fail is not None:
            raise self.fail
        data = png(16, 8)
        info = sniff(data)
        assert info is not None
        return Media(data, info)

    async def generate_gif(self, prompt: str) -> Media:
        return await self.generate_image({})


@pytest.fixture
async def flow(db):
    users = UserService(db)
    await users.touch(1, username=None, first_name="U", last_name=None, language_code="en")
    quota = QuotaService(db, default_limits())
    cancels = CancelRegistry()
    generations = Generations(quota, cancels, concurrency=1, timeout=30)
    return ImageFlow(generations, ResultStore()), quota, cancels


async def used(quota: QuotaService, kind: str = "image") -> int:
    return next(k.used for k in await quota.today(1) if k.kind == kind)


async def test_an_image_is_delivered_with_a_token_and_the_unit_spent(flow) -> None:
    image_flow, quota, _ = flow
    front = FakeFront()
    request = ImageRequest(prompt="a cat", model="m1")
    await image_flow.image(front, T, FakeClient(), user_id=1, request=request)  # type: ignore[arg-type]
    kinds = [kind for kind, _ in front.events]
    assert kinds == ["working", "done", "image"]
    caption, token = front.events[-1][1]
    assert "a cat" in caption and "16×8" in caption
    stored = image_flow.results.get(token)
    assert stored is not None and stored.request == request and stored.user_id == 1
    assert await used(quota) == 1


async def test_a_failed_generation_gives_the_unit_back_and_raises(flow) -> None:
    image_flow, quota, _ = flow
    front = FakeFront()
    client = FakeClient(fail=UpstreamError("boom"))
    with pytest.raises(UpstreamError):
        await image_flow.image(  # type: ignore[arg-type]
            front, T, client, user_id=1, request=ImageRequest(prompt="x", model="m1")
        )
    assert await used(quota) == 0
    assert "image" not in [kind for kind, _ in front.events]


async def test_busy_user_and_a_shutdown_notice(flow) -> None:
    image_flow, quota, cancels = flow
    front = FakeFront()
    gate = asyncio.Event()
    task = asyncio.create_task(
        image_flow.gif(front, T, FakeClient(wait=gate), user_id=1, prompt="waves")  # type: ignore[arg-type]
    )
    async with asyncio.timeout(5):
        while ("working", "gif") not in front.events:  # noqa: ASYNC110 - waits for the task
            await asyncio.sleep(0.01)
    with pytest.raises(GenerationBusy):
        image_flow.check_free(1)
    cancels.cancel_all()
    await asyncio.wait_for(task, 5)
    assert front.events[-1] == ("notice", T("images.shutdown"))  # cancel_all: a shutdown
    assert await used(quota, "gif") == 0
