"""The benchmark's own arithmetic: matching calls to updates, and percentiles."""

from __future__ import annotations

from bench.load import Tracker, percentiles, summarize, terminal_send_message
from bench.procstat import cpu_seconds, memory_kb
from tests.fakes.bot_api import Call


def call(method: str, chat_id: int, when: float, text: str = "", failed: bool = False) -> Call:
    params = {"chat_id": chat_id, "text": text}
    return Call(method, params, {}, "t", when, failed=failed, status=400 if failed else 200)


def test_calls_are_matched_to_the_oldest_open_update_of_their_chat():
    tracker = Tracker(terminal_send_message)
    tracker.pushed(1, 10)
    tracker.pushed(2, 10)
    tracker.pushed(3, 20)
    for update_id in (1, 2, 3):
        tracker.delivered(update_id, 100.0)
    tracker.on_call(call("sendChatAction", 10, 100.010))
    tracker.on_call(call("sendMessageDraft", 10, 100.020, text=""))  # not visible yet
    tracker.on_call(call("sendMessageDraft", 10, 100.030, text="Hel"))
    tracker.on_call(call("sendMessage", 10, 100.050, text="Hello"))
    tracker.on_call(call("sendMessage", 20, 100.060, text="Hi", failed=True))  # a refusal
    tracker.on_call(call("sendMessage", 10, 100.070, text="Second"))
    one, two, three = (tracker.items[i] for i in (1, 2, 3))
    assert (one.first, one.visible, one.done) == (100.010, 100.030, 100.050)
    # FIFO per chat: a second reply call counts for the next update of that chat.
    assert (two.first, two.visible, two.done) == (100.020, 100.050, 100.070)
    assert three.done is None and tracker.failed_calls == [("sendMessage", 400, None)]
    assert tracker.finished == 2 and tracker.methods["sendMessage"] == 3

    result = summarize("x", tracker, 99.9, lambda item: item.done_text or "")
    assert result.updates == 3 and result.finished == 2
    assert result.outcomes == {"Hello": 1, "Second": 1}
    assert result.first_reply is not None and result.first_reply["n"] == 2


def test_percentiles_are_nearest_rank_in_milliseconds():
    values = [i / 1000 for i in range(1, 101)]  # 1..100 ms
    stats = percentiles(values)
    assert stats is not None
    assert (stats["p50"], stats["p95"], stats["p99"], stats["max"]) == (50.0, 95.0, 99.0, 100.0)
    assert percentiles([]) is None


def test_proc_readings_of_this_process():
    import os

    memory = memory_kb(os.getpid())
    assert memory["VmHWM"] >= memory["VmRSS"] > 0
    assert (cpu_seconds(os.getpid()) or 0) > 0
    assert memory_kb(2**22 + 12345) == {}


async def test_the_storage_benchmark_runs_every_measurement_on_a_small_database(tmp_path):
    # The storage benchmark calls the repositories directly; a change of their signatures
    # must break here, not halfway through `make bench`.
    from bench import scale

    args = scale.parse_args(["--sizes", "1000", "--repeat", "1", "--scratch", str(tmp_path)])
    results = await scale.run(args)
    (size,) = results["sizes"]
    assert size["users"] == 1000
    after = size["after"]
    for name in ("key_lookup", "quota_spend", "stats", "retention_idle_page", "wal_checkpoint"):
        assert after[name]["n"] >= 1, name
        assert after[name]["median_ms"] > 0, name


def test_driver_pauses_counts_collections_and_freezes_what_came_before():
    import gc

    from bench.procstat import DriverPauses

    kept = [[index] for index in range(1000)]  # built before the load: frozen by start()
    before = gc.get_threshold()
    pauses = DriverPauses().start()
    try:
        assert gc.get_freeze_count() >= len(kept)
        assert gc.get_threshold()[:2] == before[:2] and gc.get_threshold()[2] > 100_000
        gc.collect()
        gc.collect(0)
    finally:
        seen = pauses.stop()
        gc.unfreeze()
    assert seen["collections"] == 2
    assert gc.get_threshold() == before  # full collections are back after the load
    assert seen["longest_ms"] >= 0 and seen["total_ms"] >= seen["longest_ms"]
    gc.collect()  # stop() unhooked the callback: this one is not counted
    assert pauses.count == 2
