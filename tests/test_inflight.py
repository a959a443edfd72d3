import asyncio

from handlers.middlewares.user import InFlight


async def test_shutdown_waits_for_running_handlers_but_not_forever():
    inflight = InFlight()
    finished: list[str] = []

    async def handler(name: str, seconds: float) -> None:
        inflight.add_current()
        await asyncio.sleep(seconds)
        finished.append(name)

    quick = asyncio.create_task(handler("quick", 0.05))
    slow = asyncio.create_task(handler("slow", 30))
    await asyncio.sleep(0)  # let both register
    left = await inflight.wait(0.5)
    assert finished == ["quick"]
    assert left == 1
    slow.cancel()
    await asyncio.gather(quick, slow, return_exceptions=True)


async def test_nothing_running_returns_at_once():
    assert await InFlight().wait(10) == 0
