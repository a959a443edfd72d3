"""Catalogue cache (hourly refresh, stale on failure) and ImageService.build / settings."""

import asyncio

import httpx
import pytest

from bot.clients.visioncraft import ImageClient
from bot.services.image_errors import BadOption, CatalogueUnavailable, UnknownName
from bot.services.images import Catalogue, ImageService, ImageSettings
from bot.services.users import UserService

# SQLite always; PostgreSQL too when TEST_DATABASE_URL is set (tests/conftest.py).
pytestmark = pytest.mark.both_engines


class Upstream:
    """A MockTransport handler with switchable lists and a call counter."""

    def __init__(self):
        self.lists = {
            "/sd/models": ["sdxl-base", "deliberate_v2", "dreamshaper_8"],
            "/sd/samplers": ["Euler a", "Euler", "DPM++ 2M Karras"],
            "/sd/loras": ["add_detail", "analog_diffusion_1.0"],
        }
        self.calls: dict[str, int] = {}
        self.down = False
        self.gate: asyncio.Event | None = None

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        self.calls[path] = self.calls.get(path, 0) + 1
        if self.gate is not None:
            await self.gate.wait()
        if self.down:
            return httpx.Response(503, text="maintenance")
        return httpx.Response(200, json=self.lists[path])


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def upstream():
    return Upstream()


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def catalogue(upstream, clock):
    http = httpx.AsyncClient(transport=httpx.MockTransport(upstream))
    return Catalogue(ImageClient(http, "http://vc.test", "k"), monotonic=clock)


async def test_lists_are_cached_for_an_hour(catalogue, upstream, clock):
    assert await catalogue.get("models") == ["sdxl-base", "deliberate_v2", "dreamshaper_8"]
    assert await catalogue.get("models")
    assert upstream.calls["/sd/models"] == 1
    upstream.lists["/sd/models"] = ["sdxl-base", "new_model"]
    clock.now += 3599
    assert "new_model" not in await catalogue.get("models")
    clock.now += 2
    assert await catalogue.get("models") == ["sdxl-base", "new_model"]
    assert upstream.calls["/sd/models"] == 2


async def test_a_failed_refresh_keeps_the_old_list_and_retries_later(catalogue, upstream, clock):
    await catalogue.get("samplers")
    upstream.down = True
    clock.now += 3601
    assert await catalogue.get("samplers") == ["Euler a", "Euler", "DPM++ 2M Karras"]
    assert await catalogue.get("samplers")
    assert upstream.calls["/sd/samplers"] == 2  # no hammering while it is down
    clock.now += 61
    upstream.down = False
    upstream.lists["/sd/samplers"] = ["Euler"]
    assert await catalogue.get("samplers") == ["Euler"]


async def test_an_empty_refresh_keeps_the_old_list(catalogue, upstream, clock):
    await catalogue.get("loras")
    upstream.lists["/sd/loras"] = []
    clock.now += 3601
    assert await catalogue.get("loras") == ["add_detail", "analog_diffusion_1.0"]


async def test_no_list_at_all(catalogue, upstream, clock):
    upstream.down = True
    with pytest.raises(CatalogueUnavailable):
        await catalogue.get("models")
    # validation does not block generation when the list is unavailable
    assert await catalogue.resolve("models", "whatever_model") == "whatever_model"
    # and the failing upstream is not asked again for a minute, however often the list is wanted
    for _ in range(5):
        with pytest.raises(CatalogueUnavailable):
            await catalogue.get("models")
    assert upstream.calls["/sd/models"] == 1
    clock.now += 61
    upstream.down = False
    assert await catalogue.get("models") == ["sdxl-base", "deliberate_v2", "dreamshaper_8"]
    assert upstream.calls["/sd/models"] == 2


async def test_concurrent_requests_share_one_fetch(catalogue, upstream):
    upstream.gate = asyncio.Event()
    tasks = [asyncio.create_task(catalogue.get("models")) for _ in range(10)]
    await asyncio.sleep(0)
    upstream.gate.set()
    results = await asyncio.gather(*tasks)
    assert all(r == results[0] for r in results)
    assert upstream.calls["/sd/models"] == 1


# -- ImageService -------------------------------------------------------------------------


@pytest.fixture
async def service(db, catalogue):
    await UserService(db).touch(
        1, username=None, first_name="A", last_name=None, language_code="en"
    )
    return ImageService(db, catalogue, "sdxl-base")


async def test_build_uses_stored_defaults_and_command_line_overrides(service, db):
    await service.save(1, ImageSettings(model="deliberate_v2", steps=20, negative_prompt="ugly"))
    user = await UserService(db).get(1)
    request = await service.build(user, "a fox --steps 25 --sampler euler A --lora ADD_DETAIL:0.5")
    assert request.prompt == "a fox"
    assert request.model == "deliberate_v2"
    assert request.steps == 25
    assert request.sampler == "Euler a"  # the upstream's spelling
    assert request.loras == (("add_detail", 0.5),)
    assert request.negative_prompt == "ugly"


async def test_build_defaults_to_image_model(service):
    request = await service.build(None, "a fox")
    assert request.model == "sdxl-base"
    assert request.sampler is None


async def test_unknown_names_are_refused_with_matches(service):
    with pytest.raises(UnknownName) as caught:
        await service.build(None, "a fox --model dreamshaper")
    assert caught.value.matches[0] == "dreamshaper_8"
    with pytest.raises(UnknownName) as caught:
        await service.build(None, "a fox --lora add_details")
    assert caught.value.what == "lora"


async def test_a_stored_model_that_disappeared_is_reported(service, db, upstream):
    await service.save(1, ImageSettings(model="dreamshaper_8"))
    upstream.lists["/sd/models"] = ["sdxl-base", "dreamshaper_9"]
    user = await UserService(db).get(1)
    with pytest.raises(UnknownName) as caught:
        await service.build(user, "a fox")
    assert caught.value.matches == ["dreamshaper_9"]


async def test_settings_from_the_command_line(service):
    settings = await service.update_from_command(1, "--cfg 9 --neg blurry --model DELIBERATE_V2")
    assert (settings.cfg_scale, settings.negative_prompt, settings.model) == (
        9,
        "blurry",
        "deliberate_v2",
    )
    assert await service.load(1) == settings
    cleared = await service.update_from_command(1, '--neg ""')
    assert cleared.negative_prompt == ""
    assert cleared.cfg_scale == 9
    with pytest.raises(BadOption) as caught:
        await service.update_from_command(1, "a fox --steps 20")
    assert caught.value.option == "settings_text"
    with pytest.raises(BadOption):
        await service.update_from_command(1, "--steps 99")
    assert (await service.load(1)).steps == 30
