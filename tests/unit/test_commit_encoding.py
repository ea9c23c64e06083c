"""held_state.send_held_state: a commit takes the decoded values with events stopped and
encodes them while events go on; what it took and did not send goes back to the next."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import faust
import orjson
import pytest

from agents import held_state
from agents.decoded_table import DecodedTable
from agents.held_state import HeldTable, send_held_state


class Out:
    """The changelog producer: what was sent, key -> value."""

    def __init__(self) -> None:
        self.sent: dict[bytes, bytes | None] = {}

    async def produce(
        self, topic: str, *, value: bytes | None, key: bytes | None, partition: int | None
    ) -> None:
        assert key is not None
        self.sent[key] = value

    async def flush(self) -> None:
        pass


Wired = tuple[Any, HeldTable, HeldTable, DecodedTable[list[int]], Out]


@pytest.fixture
def wired(monkeypatch: pytest.MonkeyPatch) -> Wired:
    """An app with a decoded view's table and a plain one (never started: no broker)."""
    app = faust.App("unit-commit", broker="kafka://127.0.0.1:1", Table=HeldTable, store="memory://")
    tables = [
        cast(HeldTable, app.Table(name, partitions=1, key_type=bytes, value_type=bytes))
        for name in ("values", "plain")
    ]
    for table in tables:  # Faust's asks the current event; there is none here
        table.partition_for_key = lambda key: 0  # type: ignore[method-assign]
    view = DecodedTable[list[int]](tables[0], lambda key, raw: orjson.loads(raw) if raw else [], orjson.dumps)
    out = Out()
    monkeypatch.setattr(held_state, "decoded_views", [view])
    monkeypatch.setattr(held_state, "ENCODE_SLICE_S", 0.0)  # a yield after every 32 values
    monkeypatch.setattr(held_state, "_one_commit", asyncio.Lock())  # of this test's loop
    monkeypatch.setattr(held_state, "changelog_out", lambda: out)
    for hooks in ("before_take", "after_take", "before_commit"):
        monkeypatch.setattr(held_state, hooks, [])
    return app, tables[0], tables[1], view, out


def _settled_values(view: DecodedTable[list[int]], n: int) -> None:
    for i in range(n):
        view.set(b"%d" % i, [i])
    view.settle()


def test_events_go_on_while_a_commit_encodes_and_change_nothing_it_took(wired: Wired) -> None:
    app, table, _, view, out = wired
    _settled_values(view, 100)

    async def event() -> None:
        await held_state.gate.enter()
        try:
            value = view.get(b"99")
            value.append(-1)
            view.set(b"99", value)
            view.settle()
        finally:
            held_state.gate.leave()

    async def scenario() -> None:
        commit = asyncio.create_task(send_held_state(app))
        await asyncio.sleep(0)  # it has taken the values and yields between chunks
        assert 0 < len(view._taken) < 100
        await event()
        await commit

    asyncio.run(scenario())
    assert len(out.sent) == 100 and out.sent[b"99"] == b"[99]" and table[b"99"] == b"[99]"
    assert view.peek(b"99") == [99, -1]  # pending: the next commit's


def test_a_commit_cancelled_while_encoding_gives_back_what_it_took(wired: Wired) -> None:
    app, _, plain, view, out = wired
    _settled_values(view, 100)
    plain[b"p"] = b"1"
    plain.settle()

    async def scenario() -> None:
        commit = asyncio.create_task(send_held_state(app))
        await asyncio.sleep(0)  # taken; encoding
        plain[b"p"] = b"2"  # an event meanwhile: newer than what the commit took
        plain.settle()
        commit.cancel()  # the worker stopping
        with pytest.raises(asyncio.CancelledError):
            await commit
        assert not out.sent
        await send_held_state(app)

    asyncio.run(scenario())
    assert len(out.sent) == 101 and out.sent[b"5"] == b"[5]" and out.sent[b"p"] == b"2"


def test_a_commit_whose_hook_fails_leaves_everything_to_the_next(
    wired: Wired, monkeypatch: pytest.MonkeyPatch
) -> None:
    app, _, plain, view, out = wired
    _settled_values(view, 100)
    plain[b"p"] = b"1"
    plain.settle()

    async def unavailable() -> None:
        raise ConnectionError("Cassandra unavailable")

    monkeypatch.setattr(held_state, "before_commit", [unavailable])
    with pytest.raises(ConnectionError):
        asyncio.run(send_held_state(app))
    monkeypatch.setattr(held_state, "before_commit", [])
    view.set(b"new", [1])
    view.settle()
    asyncio.run(send_held_state(app))
    assert len(out.sent) == 102 and out.sent[b"7"] == b"[7]" and out.sent[b"p"] == b"1"


def test_a_hand_over_during_a_commit_waits_for_it_and_sends_the_rest(wired: Wired) -> None:
    app, _, _, view, out = wired
    _settled_values(view, 100)

    async def scenario() -> None:
        commit = asyncio.create_task(send_held_state(app))
        await asyncio.sleep(0)  # taken; encoding
        view.set(b"late", [1])  # an event after the take
        view.settle()
        hand_over = asyncio.create_task(send_held_state(app))
        await asyncio.sleep(0)
        assert not hand_over.done() and b"late" not in out.sent  # waits for the commit
        await asyncio.gather(commit, hand_over)

    asyncio.run(scenario())
    assert len(out.sent) == 101 and out.sent[b"late"] == b"[1]"
