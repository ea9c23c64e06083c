"""agents/spill_store.py: the memory store's contract, with the values in a local RocksDB."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, cast

import faust
import pytest
from faust.types import TP

from agents.decoded_table import DecodedTable
from agents.held_state import HeldTable
from agents.spill_store import RocksMapping, SpillStore, register, remove_abandoned


def test_a_mapping_of_bytes(tmp_path: Path) -> None:
    m = RocksMapping(tmp_path / "db")
    m[b"a"] = b"1"
    m[b"empty"] = b""
    assert m[b"a"] == b"1" and m.get(b"empty") == b"" and m.get(b"none", b"?") == b"?"
    assert b"empty" in m and b"none" not in m
    assert sorted(m) == [b"a", b"empty"] and len(m) == 2
    with pytest.raises(KeyError):
        m[b"none"]
    with pytest.raises(KeyError):
        del m[b"none"]
    assert m.pop(b"a") == b"1" and m.pop(b"a", None) is None
    m.clear()
    assert len(m) == 0
    m.close()


class _Message:
    def __init__(self, partition: int, value: bytes | None) -> None:
        self.partition, self.value = partition, value


class _Event:
    """A changelog record as Faust's recovery hands it to the store."""

    def __init__(self, key: bytes, value: bytes | None, partition: int) -> None:
        self.key, self.value, self.message = key, value, _Message(partition, value)


@pytest.fixture
def table(tmp_path: Path) -> HeldTable:
    register()
    app = faust.App(
        "unit-spill", broker="kafka://127.0.0.1:1", Table=HeldTable, store="spill://", datadir=tmp_path
    )
    return cast(HeldTable, app.Table("t", partitions=2, key_type=bytes, value_type=bytes))


@pytest.fixture
def store(table: HeldTable) -> SpillStore:
    return cast(SpillStore, table.data)


def test_a_table_with_it_reads_and_writes_off_the_heap(store: SpillStore, tmp_path: Path) -> None:
    assert isinstance(store, SpillStore) and isinstance(store.data, RocksMapping)
    store[b"k"] = b"v"
    assert store[b"k"] == b"v" and list(store.keys()) == [b"k"]
    assert (tmp_path / "v1" / "tables" / "spill").is_dir()


def test_recovery_applies_tombstones_and_drops_partitions_gone(store: SpillStore) -> None:
    events: list[Any] = [
        _Event(b"a", b"1", 0),
        _Event(b"b", b"2", 1),
        _Event(b"c", b"3", 1),
        _Event(b"c", None, 1),  # deleted
        _Event(b"d", None, 0),
        _Event(b"d", b"4", 0),  # deleted, then set again
    ]
    store.apply_changelog_batch(events, lambda k: k, lambda v: v)
    assert dict(store.items()) == {b"a": b"1", b"b": b"2", b"d": b"4"}
    asyncio.run(store.on_recovery_completed({TP("t-changelog", 0)}, set()))
    assert dict(store.items()) == {b"a": b"1", b"d": b"4"}


def test_close_removes_its_database(store: SpillStore) -> None:
    where = store._dir
    store[b"k"] = b"v"
    store.close()
    assert not where.exists()


def test_databases_of_processes_gone_are_removed_and_live_ones_kept(tmp_path: Path) -> None:
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, check=True
    )
    dead = tmp_path / f"{int(gone.stdout)}-charger-state-x"
    mine = tmp_path / f"{os.getpid()}-charger-state-y"
    other = tmp_path / "not-a-pid"
    for d in (dead, mine, other):
        d.mkdir()
    remove_abandoned(tmp_path)
    assert not dead.exists() and mine.exists() and other.exists()


def test_a_decoded_view_decodes_again_what_recovery_wrote(table: HeldTable) -> None:
    decodes: list[bytes | None] = []

    def decode(key: bytes, raw: bytes | None) -> bytes | None:
        decodes.append(raw)
        return raw

    view = DecodedTable[bytes | None](table, decode, lambda v: v or b"")
    table.put_encoded(b"k", b"old")
    assert view.peek(b"k") == b"old" and view.peek(b"k") == b"old" and decodes == [b"old"]
    table.apply_changelog_batch([_Event(b"k", b"new", 0)])
    assert view.peek(b"k") == b"new" and decodes == [b"old", b"new"]
