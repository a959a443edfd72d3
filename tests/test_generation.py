"""One generation per user, the fair global queue, refunds on every failure, result store."""

import asyncio

import pytest

from bot.clients.visioncraft import Media
from bot.services.cancel import CancelRegistry, OperationCancelled
from bot.services.errors import QuotaExceeded, UpstreamError
from bot.services.generation import FairQueue, Generations, ResultStore, StoredResult
from bot.services.image_errors import GenerationBusy, GenerationTimeout, QueueTimeout
from bot.services.media import sniff
from bot.services.quota import QuotaService
from bot.services.users import UserService
from bot.tiers import default_limits
from tests.media_samples import png

PNG = png()
MEDIA = Media(PNG, sniff(PNG))


# -- FairQueue ----------------------------------------------------------------------------


async def test_queue_is_first_come_first_served_and_reports_positions():
    queue = FairQueue(1)
    await queue.acquire()
    order: list[str] = []
    positions: dict[str, int] = {}
    queued = {name: asyncio.Event() for name in "abc"}

    async def waiter(name: str) -> None:
        async def on_queued(position: int) -> None:
            positions[name] = position
            queued[name].set()

        await queue.acquire(on_queued=on_queued)
        order.append(name)
        queue.release()

    tasks = []
    for name in "abc":
        tasks.append(asyncio.create_task(waiter(name)))
        await queued[name].wait()
    assert positions == {"a": 1, "b": 2, "c": 3}
    assert queue.waiting == 3
    queue.release()
    await asyncio.gather(*tasks)
    assert order == ["a", "b", "c"]
    assert queue.active == 0
    assert queue.waiting == 0


async def test_a_newcomer_cannot_overtake_a_waiter():
    queue = FairQueue(1)
    await queue.acquire()
    queued = asyncio.Event()

    async def on_queued(position: int) -> None:
        queued.set()

    first = asyncio.create_task(queue.acquire(on_queued=on_queued))
    await queued.wait()
    queue.release()  # hands the slot to the waiter, not to whoever comes next
    late_queued = asyncio.Event()

    async def late(position: int) -> None:
        late_queued.set()

    second = asyncio.create_task(queue.acquire(on_queued=late))
    await late_queued.wait()
    await first
    assert not second.done()
    queue.release()
    await second
    queue.release()
    assert queue.active == 0


async def test_leaving_the_queue_by_cancel_or_timeout():
    registry = CancelRegistry()
    queue = FairQueue(1)
    await queue.acquire()
    queued = asyncio.Event()

    async def on_queued(position: int) -> None:
        queued.set()

    async def wait_in_queue():
        with registry.scope(5, "image") as scope:
            await queue.acquire(scope, on_queued)

    task = asyncio.create_task(wait_in_queue())
    await queued.wait()
    registry.cancel(5)
    with pytest.raises(OperationCancelled):
        await task
    assert queue.waiting == 0

    with pytest.raises(TimeoutError):
        await queue.acquire(within=0)
    assert queue.waiting == 0
    queue.release()
    assert queue.active == 0


async def test_a_slot_granted_while_giving_up_is_passed_on():
    registry = CancelRegistry()
    queue = FairQueue(1)
    await queue.acquire()
    queued = asyncio.Event()
    other_queued = asyncio.Event()

    async def on_queued(position: int) -> None:
        queued.set()

    async def on_other(position: int) -> None:
        other_queued.set()

    async def first():
        with registry.scope(1, "image") as scope:
            await queue.acquire(scope, on_queued)

    task = asyncio.create_task(first())
    await queued.wait()
    other = asyncio.create_task(queue.acquire(on_queued=on_other))
    await other_queued.wait()
    queue.release()  # the slot goes to user 1 ...
    registry.cancel(1)  # ... who cancels before running
    with pytest.raises(OperationCancelled):
        await task
    await other  # the slot moved on instead of being lost
    queue.release()
    assert queue.active == 0


def test_queue_limit_must_be_positive():
    with pytest.raises(ValueError):
        FairQueue(0)


# -- Generations --------------------------------------------------------------------------


@pytest.fixture
async def quota(db):
    users = UserService(db)
    for uid in (1, 2, 3):
        await users.touch(uid, username=None, first_name="U", last_name=None, language_code="en")
    return QuotaService(db, default_limits())


async def used(quota: QuotaService, user_id: int, kind: str = "image") -> int:
    return next(k.used for k in await quota.today(user_id) if k.kind == kind)


def make(quota, concurrency=1, timeout=60.0):
    cancels = CancelRegistry()
    return Generations(quota, cancels, concurrency=concurrency, timeout=timeout), cancels


async def test_success_spends_one_unit(quota):
    generations, _ = make(quota)
    delivered = []

    async def work():
        return MEDIA

    async def deliver(media):
        delivered.append(media)
        return "sent"

    result = await generations.generate(user_id=1, kind="image", work=work, deliver=deliver)
    assert result == "sent"
    assert delivered == [MEDIA]
    assert await used(quota, 1) == 1
    assert not generations.busy(1)


@pytest.mark.parametrize("failure", ["work", "deliver"])
async def test_failures_give_the_unit_back(quota, failure):
    generations, _ = make(quota)

    async def work():
        if failure == "work":
            raise UpstreamError("down")
        return MEDIA

    async def deliver(media):
        raise RuntimeError("telegram refused")

    with pytest.raises((UpstreamError, RuntimeError)):
        await generations.generate(user_id=1, kind="gif", work=work, deliver=deliver)
    assert await used(quota, 1, "gif") == 0
    assert not generations.busy(1)


async def test_timeout_gives_the_unit_back(quota):
    generations, _ = make(quota, timeout=0)

    async def work():
        await asyncio.Event().wait()

    async def deliver(media):
        raise AssertionError("nothing to deliver")

    with pytest.raises(GenerationTimeout) as caught:
        await generations.generate(user_id=1, kind="image", work=work, deliver=deliver)
    assert caught.value.params["minutes"] == 1
    assert await used(quota, 1) == 0


async def test_one_generation_per_user_and_cancel(quota):
    generations, cancels = make(quota, concurrency=4)
    started = asyncio.Event()

    async def work():
        started.set()
        await asyncio.Event().wait()

    async def deliver(media):
        raise AssertionError("cancelled work delivers nothing")

    first = asyncio.create_task(
        generations.generate(user_id=1, kind="image", work=work, deliver=deliver)
    )
    await started.wait()
    assert generations.busy(1)
    assert await used(quota, 1) == 1
    with pytest.raises(GenerationBusy):
        await generations.generate(user_id=1, kind="gif", work=work, deliver=deliver)
    assert await used(quota, 1, "gif") == 0  # refused before spending
    assert cancels.cancel(1) == ["image"]
    with pytest.raises(OperationCancelled):
        await first
    assert await used(quota, 1) == 0
    assert not generations.busy(1)


async def test_quota_is_checked_before_queueing(quota):
    generations, _ = make(quota)

    async def work():
        return MEDIA

    async def deliver(media):
        return None

    for _ in range(5):  # the free tier's 5 images a day
        await generations.generate(user_id=2, kind="image", work=work, deliver=deliver)
    with pytest.raises(QuotaExceeded):
        await generations.generate(user_id=2, kind="image", work=work, deliver=deliver)
    assert await used(quota, 2) == 5


async def test_global_limit_queues_others_and_tells_their_position(quota):
    generations, _ = make(quota, concurrency=1)
    release = asyncio.Event()
    started = asyncio.Event()
    positions: list[int] = []
    queued = asyncio.Event()

    async def slow():
        started.set()
        await release.wait()
        return MEDIA

    async def fast():
        return MEDIA

    async def deliver(media):
        return media

    async def on_queued(position):
        positions.append(position)
        queued.set()

    first = asyncio.create_task(
        generations.generate(user_id=1, kind="image", work=slow, deliver=deliver)
    )
    await started.wait()
    second = asyncio.create_task(
        generations.generate(
            user_id=2, kind="image", work=fast, deliver=deliver, on_queued=on_queued
        )
    )
    await queued.wait()
    assert positions == [1]
    assert not second.done()
    release.set()
    assert await first is MEDIA
    assert await second is MEDIA
    assert generations.queue.active == 0


async def test_queue_timeout_gives_the_unit_back(quota):
    generations, _ = make(quota, concurrency=1, timeout=0)
    await generations.queue.acquire()  # someone holds the only slot

    async def work():
        return MEDIA

    async def deliver(media):
        return media

    with pytest.raises(QueueTimeout):
        await generations.generate(user_id=3, kind="image", work=work, deliver=deliver)
    assert await used(quota, 3) == 0


async def test_progress_wraps_only_the_generation(quota):
    generations, _ = make(quota)
    events: list[str] = []

    class Progress:
        async def __aenter__(self):
            events.append("progress on")

        async def __aexit__(self, *exc):
            events.append("progress off")

    async def work():
        events.append("work")
        return MEDIA

    async def deliver(media):
        events.append("deliver")

    await generations.generate(
        user_id=1, kind="image", work=work, deliver=deliver, progress=Progress
    )
    assert events == ["progress on", "work", "progress off", "deliver"]


# -- ResultStore --------------------------------------------------------------------------


def test_result_store_keeps_requests_longer_than_bytes():
    store = ResultStore(max_entries=3, max_bytes=10)
    a = store.put(StoredResult(1, "image", "a", data=b"x" * 6))
    b = store.put(StoredResult(1, "image", "b", data=b"y" * 6))
    assert store.get(a).data is None  # bytes evicted, the request kept for "Again"
    assert store.get(a).request == "a"
    assert store.get(b).data == b"y" * 6
    assert store.bytes_held == 6
    c = store.put(StoredResult(1, "image", "c"))
    d = store.put(StoredResult(1, "image", "d"))
    assert store.get(a) is None  # least recently used: b was looked at after a
    assert [store.get(t) is not None for t in (b, c, d)] == [True, True, True]
    huge = store.put(StoredResult(1, "image", "e", data=b"z" * 11))
    assert store.get(huge).data is None
    assert len({a, b, c, d, huge}) == 5
    assert all(len(t) <= 16 for t in (a, b, c, d, huge))


async def test_after_cancel_a_new_request_waits_for_the_old_one_to_wind_down(quota):
    generations, cancels = make(quota, concurrency=4)
    started = asyncio.Event()
    unwinding = asyncio.Event()
    unwound = asyncio.Event()

    async def slow_to_stop():
        started.set()
        try:
            await asyncio.Event().wait()
        finally:
            unwinding.set()
            await unwound.wait()  # e.g. closing an upstream connection

    async def quick():
        return MEDIA

    async def deliver(media):
        return media

    old = asyncio.create_task(
        generations.generate(user_id=1, kind="image", work=slow_to_stop, deliver=deliver)
    )
    await started.wait()
    cancels.cancel(1)
    await unwinding.wait()
    assert not generations.busy(1)  # a cancelled generation does not count as busy
    new = asyncio.create_task(
        generations.generate(user_id=1, kind="image", work=quick, deliver=deliver)
    )
    await asyncio.sleep(0)
    assert not new.done()  # waiting, not refused
    unwound.set()
    with pytest.raises(OperationCancelled):
        await old
    assert await new is MEDIA
    assert await used(quota, 1) == 1
