"""The per-user cancel registry and its guarded waits (no timing assumptions)."""

import asyncio

import pytest

from bot.services.cancel import SHUTDOWN, CancelRegistry, OperationCancelled


async def test_guard_returns_the_result():
    registry = CancelRegistry()
    with registry.scope(1, "image") as scope:
        assert await scope.guard(asyncio.sleep(0, result=42)) == 42
    assert registry.active(1) == []


async def test_cancel_stops_the_work_and_names_what_was_cancelled():
    registry = CancelRegistry()
    started = asyncio.Event()
    work_cancelled = asyncio.Event()

    async def work():
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            work_cancelled.set()
            raise

    async def run():
        with registry.scope(7, "image") as scope:
            await scope.guard(work())

    task = asyncio.create_task(run())
    await started.wait()
    assert registry.active(7) == ["image"]
    assert registry.cancel(8) == []  # another user's cancel touches nothing
    assert registry.cancel(7) == ["image"]
    assert registry.cancel(7) == []  # already signalled
    with pytest.raises(OperationCancelled) as caught:
        await task
    assert caught.value.reason == "user"
    assert work_cancelled.is_set()
    assert registry.active(7) == []


async def test_a_cancelled_scope_refuses_new_work():
    registry = CancelRegistry()
    with registry.scope(1, "gif") as scope:
        registry.cancel(1)
        coroutine = asyncio.sleep(0)
        with pytest.raises(OperationCancelled):
            await scope.guard(coroutine)
        with pytest.raises(OperationCancelled):
            scope.check()


async def test_cancel_wins_over_a_result_that_arrives_at_the_same_moment():
    registry = CancelRegistry()
    with registry.scope(1, "image") as scope:
        done = asyncio.get_running_loop().create_future()

        async def finish_and_cancel():
            done.set_result("image bytes")
            scope.cancel()

        asyncio.get_running_loop().call_soon(lambda: asyncio.ensure_future(finish_and_cancel()))
        with pytest.raises(OperationCancelled):
            await scope.guard(done)


async def test_timeout_cancels_the_work():
    registry = CancelRegistry()
    cancelled = asyncio.Event()

    async def forever():
        try:
            await asyncio.Event().wait()
        finally:
            cancelled.set()

    with registry.scope(1, "image") as scope, pytest.raises(TimeoutError):
        await scope.guard(forever(), within=0)
    assert cancelled.is_set()


async def test_work_errors_pass_through():
    registry = CancelRegistry()

    async def broken():
        raise ValueError("upstream said no")

    with registry.scope(1, "image") as scope, pytest.raises(ValueError):
        await scope.guard(broken())


async def test_cancel_all_for_shutdown():
    registry = CancelRegistry()
    with registry.scope(1, "image") as a, registry.scope(2, "gif") as b:
        assert registry.cancel_all() == 2
        assert a.reason == b.reason == SHUTDOWN
    assert registry.cancel_all() == 0


async def test_outer_cancellation_also_stops_the_work():
    registry = CancelRegistry()
    started = asyncio.Event()
    stopped = asyncio.Event()

    async def work():
        started.set()
        try:
            await asyncio.Event().wait()
        finally:
            stopped.set()

    async def run():
        with registry.scope(1, "image") as scope:
            await scope.guard(work())

    task = asyncio.create_task(run())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert stopped.is_set()
    assert registry.active(1) == []
