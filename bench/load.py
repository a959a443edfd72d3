"""Load generation and measurement against the fake Bot API.

:class:`BenchAPI` is the test rig's :class:`~tests.fakes.bot_api.FakeBotAPI` with two taps:
it stamps every update at the moment ``getUpdates`` hands it to the bot (*delivered*), and it
feeds every recorded Bot API call to a :class:`Tracker`, which matches calls to updates per
chat, oldest first.

What is measured, per update (all times ``time.monotonic()`` in this process):

* **first reply** - delivered -> the first call of the bot for that chat that a user would
  notice: ``sendMessage``, ``sendMessageDraft``, ``sendChatAction``, ``sendPhoto``,
  ``sendAnimation``, ``sendDocument`` or ``sendInvoice``;
* **first visible text** - delivered -> the first call that puts words or a picture on the
  screen: a ``sendMessageDraft`` with non-empty text, a ``sendMessage``, a ``sendPhoto``
  (a typing indicator is not text);
* **done** - delivered -> the case's *terminal* call (the answer itself, or the message that
  says why there is none: quota, busy, error). Every update expects exactly one.

Throughput is updates finished per second, from the first push to the last terminal call.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypedDict

from tests.fakes.bot_api import Call, FakeBotAPI

FIRST_REPLY_METHODS = frozenset(
    {
        "sendMessage",
        "sendMessageDraft",
        "sendRichMessage",
        "sendRichMessageDraft",
        "sendChatAction",
        "sendPhoto",
        "sendAnimation",
        "sendDocument",
        "sendInvoice",
    }
)


def is_visible(call: Call) -> bool:
    if call.method == "sendMessageDraft":
        return bool((call.params.get("text") or "").strip())
    return call.method in (
        "sendMessage",
        "sendRichMessage",
        "sendRichMessageDraft",
        "sendPhoto",
        "sendAnimation",
        "sendDocument",
    )


def rich_text(rich: object) -> str | None:
    """The first paragraph's plain text of a rich message (what a case classifies)."""
    if not isinstance(rich, dict):
        return None
    for block in rich.get("blocks") or []:
        if isinstance(block, dict) and block.get("type") == "paragraph":
            return _plain(block.get("text"))
    return None


def _plain(text: object) -> str:
    if isinstance(text, str):
        return text
    if isinstance(text, list):
        return "".join(_plain(t) for t in text)
    if isinstance(text, dict):
        return _plain(text.get("text") or text.get("expression") or "")
    return ""


Terminal = Callable[[Call], bool]


def terminal_send_message(call: Call) -> bool:
    return call.method == "sendMessage"


@dataclass(slots=True)
class Tracked:
    update_id: int
    chat_id: int
    pushed: float
    delivered: float | None = None
    first: float | None = None
    visible: float | None = None
    done: float | None = None
    done_method: str | None = None
    done_text: str | None = None


class Tracker:
    """Matches Bot API calls to the updates of one load, per chat, oldest first."""

    def __init__(self, terminal: Terminal = terminal_send_message) -> None:
        self.terminal = terminal
        self.items: dict[int, Tracked] = {}
        self.by_chat: dict[int, deque[Tracked]] = {}
        self.finished = 0
        self.failed_calls: list[tuple[str, int, str | None]] = []
        self.calls = 0
        self.methods: dict[str, int] = {}
        self.last_done = 0.0
        self._all_done = asyncio.Event()

    def pushed(self, update_id: int, chat_id: int) -> None:
        item = Tracked(update_id, chat_id, time.monotonic())
        self.items[update_id] = item
        self.by_chat.setdefault(chat_id, deque()).append(item)
        self._all_done.clear()

    def delivered(self, update_id: int, now: float) -> None:
        item = self.items.get(update_id)
        if item is not None and item.delivered is None:
            item.delivered = now

    def on_call(self, call: Call) -> None:
        if call.method == "getUpdates":
            return
        self.calls += 1
        self.methods[call.method] = self.methods.get(call.method, 0) + 1
        if call.failed:
            self.failed_calls.append((call.method, call.status, call.description))
            return
        chat_id = call.params.get("chat_id")
        queue = self.by_chat.get(chat_id) if isinstance(chat_id, int) else None
        if not queue:
            return
        if call.method in FIRST_REPLY_METHODS:
            self._stamp(queue, "first", call.time)
        if is_visible(call):
            self._stamp(queue, "visible", call.time)
        if self.terminal(call):
            item = self._stamp(queue, "done", call.time)
            if item is not None:
                item.done_method = call.method
                item.done_text = (
                    call.params.get("text")
                    or call.params.get("caption")
                    or rich_text(call.params.get("rich_message"))
                )
                self.finished += 1
                self.last_done = call.time
                while queue and queue[0].done is not None:
                    queue.popleft()
                if self.finished >= len(self.items):
                    self._all_done.set()

    @staticmethod
    def _stamp(queue: deque[Tracked], attribute: str, when: float) -> Tracked | None:
        for item in queue:
            if item.delivered is not None and getattr(item, attribute) is None:
                setattr(item, attribute, when)
                return item
        return None

    async def wait(self, timeout: float) -> bool:  # noqa: ASYNC109
        if self.finished >= len(self.items):
            return True
        try:
            await asyncio.wait_for(self._all_done.wait(), timeout)
        except TimeoutError:
            return False
        return True


class Percentiles(TypedDict):
    """Milliseconds, over ``n`` values."""

    p50: float
    p95: float
    p99: float
    mean: float
    max: float
    n: int


def percentiles(values_s: Sequence[float]) -> Percentiles | None:
    """Nearest-rank p50/p95/p99, mean and max, in milliseconds."""
    if not values_s:
        return None
    ordered = sorted(values_s)

    def rank(p: float) -> float:
        index = max(math.ceil(p / 100 * len(ordered)) - 1, 0)
        return round(ordered[index] * 1000, 1)

    return {
        "p50": rank(50),
        "p95": rank(95),
        "p99": rank(99),
        "mean": round(sum(ordered) / len(ordered) * 1000, 1),
        "max": round(ordered[-1] * 1000, 1),
        "n": len(ordered),
    }


class BenchAPI(FakeBotAPI):
    """The fake Bot API with delivery stamps and a call tap for the current :class:`Tracker`.

    ``lean=True`` answers the hot send methods without the full emulation (no HTML check,
    no stored copy of each message): use it when the fake itself would be the bottleneck.
    """

    def __init__(self, token: str, *, lean: bool = False) -> None:
        super().__init__(token=token)
        self.tracker: Tracker | None = None
        self.lean = lean

    async def _get_updates(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        status, payload = await super()._get_updates(params)
        tracker = self.tracker
        if status == 200 and tracker is not None:
            now = time.monotonic()
            for update in payload["result"]:
                tracker.delivered(update["update_id"], now)
        return status, payload

    def _record(self, call: Call) -> None:
        if self.tracker is not None:
            self.tracker.on_call(call)
        super()._record(call)

    def _answer(
        self, name: str, params: dict[str, Any], uploads: dict[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        if self.lean and not self._failures:
            key = name.lower()
            if key in ("sendchataction", "sendmessagedraft"):
                return 200, {"ok": True, "result": True}
            if key == "sendmessage":
                chat_id = int(params.get("chat_id") or 0)
                message = {
                    "message_id": self.next_message_id(chat_id),
                    "date": int(time.time()),
                    "from": self.bot_user,
                    "chat": {"id": chat_id, "type": "private", "first_name": "User"},
                    "text": str(params.get("text") or ""),
                }
                return 200, {"ok": True, "result": message}
        return super()._answer(name, params, uploads)

    # ------------------------------------------------------------------------------ updates
    def text_update(self, user_id: int, text: str) -> dict[str, Any]:
        """A private text message from ``user_id`` (a ``/command`` gets its entity)."""
        message: dict[str, Any] = {
            "message_id": self.next_message_id(user_id),
            "from": {
                "id": user_id,
                "is_bot": False,
                "first_name": f"User{user_id}",
                "language_code": "en",
            },
            "chat": {"id": user_id, "type": "private", "first_name": f"User{user_id}"},
            "date": int(time.time()),
            "text": text,
        }
        self._auto_entities(message)
        return {"update_id": self._next_update_id(), "message": message}

    def push_tracked(self, update: dict[str, Any], chat_id: int) -> None:
        assert self.tracker is not None
        update_id = update["update_id"]
        self.tracker.pushed(update_id, chat_id)
        self.push_update(update)


Texts = Callable[[int, int], str]  # (user_id, sequence number) -> message text


@dataclass
class LoadResult:
    name: str
    updates: int
    finished: int
    seconds: float
    first_reply: Percentiles | None
    visible: Percentiles | None
    done: Percentiles | None
    delivery_lag: Percentiles | None
    failed_calls: int
    failed_examples: list[tuple[str, int, str | None]]
    outcomes: dict[str, int] = field(default_factory=dict)
    bot_cpu_s: float = 0.0
    bench_cpu_s: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def updates_per_s(self) -> float:
        return round(self.finished / self.seconds, 1) if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "load": self.name,
            "updates": self.updates,
            "finished": self.finished,
            "unanswered": self.updates - self.finished,
            "seconds": round(self.seconds, 3),
            "updates_per_s": self.updates_per_s,
            "first_reply_ms": self.first_reply,
            "first_visible_ms": self.visible,
            "done_ms": self.done,
            "delivery_lag_ms": self.delivery_lag,
            "failed_calls": self.failed_calls,
            "failed_examples": self.failed_examples[:5],
            "outcomes": self.outcomes,
            "bot_cpu_s": self.bot_cpu_s,
            "bot_cpu_ms_per_update": round(self.bot_cpu_s / self.finished * 1000, 2)
            if self.finished
            else None,
            "bench_cpu_s": self.bench_cpu_s,
            "bench_cpu_share": round(self.bench_cpu_s / self.seconds, 2) if self.seconds else None,
            **self.extra,
        }


def summarize(
    name: str, tracker: Tracker, started: float, classify: Callable[[Tracked], str] | None
) -> LoadResult:
    items = list(tracker.items.values())
    # Each delivered update with its delivery time (narrowed to a float once, here).
    delivered = [(i, i.delivered) for i in items if i.delivered is not None]
    end = tracker.last_done if tracker.finished else time.monotonic()
    outcomes: dict[str, int] = {}
    if classify is not None:
        for item in items:
            if item.done is not None:
                label = classify(item)
                outcomes[label] = outcomes.get(label, 0) + 1
    return LoadResult(
        name=name,
        updates=len(items),
        finished=tracker.finished,
        seconds=max(end - started, 1e-9),
        first_reply=percentiles([i.first - at for i, at in delivered if i.first]),
        visible=percentiles([i.visible - at for i, at in delivered if i.visible]),
        done=percentiles([i.done - at for i, at in delivered if i.done]),
        delivery_lag=percentiles([at - i.pushed for i, at in delivered]),
        failed_calls=len(tracker.failed_calls),
        failed_examples=tracker.failed_calls[:5],
        outcomes=outcomes,
        extra={
            # Where the tail is: the slowest first replies as [seconds into the load, ms].
            "slowest_first": sorted(
                (
                    [round(at - started, 3), round((i.first - at) * 1000, 1)]
                    for i, at in delivered
                    if i.first
                ),
                key=lambda pair: -pair[1],
            )[:20],
            "api_calls_per_update": {
                method: round(count / len(items), 2)
                for method, count in sorted(tracker.methods.items())
            }
            if items
            else {},
        },
    )


async def run_burst(
    api: BenchAPI,
    tracker: Tracker,
    users: Sequence[int],
    per_user: int,
    text: Texts,
    timeout: float,  # noqa: ASYNC109
) -> tuple[float, bool]:
    """Every user sends ``per_user`` messages at once (round-robin order). Returns the start
    time and whether every update was answered within ``timeout`` seconds."""
    updates = [
        (api.text_update(user, text(user, n)), user) for n in range(per_user) for user in users
    ]
    api.tracker = tracker
    started = time.monotonic()
    for update, chat_id in updates:
        api.push_tracked(update, chat_id)
    complete = await tracker.wait(timeout)
    return started, complete


async def run_steady(
    api: BenchAPI,
    tracker: Tracker,
    users: Sequence[int],
    rate: float,
    count: int,
    text: Texts,
    timeout: float,  # noqa: ASYNC109
) -> tuple[float, bool]:
    """Open loop: update ``i`` is pushed at ``start + i / rate`` whatever the bot does, from
    users in turn. Returns the start time and whether all were answered in time."""
    api.tracker = tracker
    loop = asyncio.get_running_loop()
    started = time.monotonic()
    origin = loop.time()
    for i in range(count):
        due = origin + i / rate
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        user = users[i % len(users)]
        api.push_tracked(api.text_update(user, text(user, i)), user)
    complete = await tracker.wait(timeout)
    return started, complete
