"""A Faust table store whose values live in a local RocksDB (rocksdict), not in the heap.

The worker's tables hold every charger's encoded meter state and status and every site's
state: ~3.4 KB a connector for the meter state alone once its series has filled (`python -m
bench.steady_state`), gigabytes for a large fleet, which Faust's in-memory store holds in
the Python heap. This store keeps them in a RocksDB of the worker's own instead: RocksDB's
memory is its write buffers and block cache, 64 MB for all the worker's tables (below),
whatever the number of keys.

Its contract is the in-memory store's (Faust's ``memory://``, which it extends), not
Faust's ``rocksdb://``: the database is created empty when the worker starts and removed
when it stops, and the tables are rebuilt from their changelogs as with the memory store.
Nothing is persisted across restarts, so nothing can be ahead of the changelog (the
worker's changelog records are sent at commits, agents/held_state.py, and Faust's RocksDB
store would not learn what was sent). No write-ahead log, for the same reason.

Two databases per table and process (the values; the changelog partition of each key
recovered), under ``<datadir>/v1/tables/spill/<pid>-<table>-*``; the directories of
workers no longer running are removed at start (a killed worker leaves its own behind).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator, MutableMapping, Set
from pathlib import Path
from typing import Any

from faust.stores import memory
from faust.types import TP, EventT
from rocksdict import BlockBasedOptions, Cache, Options, Rdict, WriteBufferManager, WriteOptions

# RocksDB's memory in the worker, all of its databases together: recently read blocks and
# the write buffers (memtables), which are charged to the same cache, so that one limit
# holds: a full buffer, or buffers over their share, are flushed to files.
CACHE_BYTES = 64 << 20
WRITE_BUFFERS_BYTES = 32 << 20  # of CACHE_BYTES
WRITE_BUFFER_BYTES = 8 << 20  # per database, two at most
_CACHE = Cache(CACHE_BYTES)
_WRITE_BUFFERS = WriteBufferManager.new_write_buffer_manager_with_cache(WRITE_BUFFERS_BYTES, False, _CACHE)


def _options() -> Options:
    opts = Options(raw_mode=True)
    opts.create_if_missing(True)
    opts.set_write_buffer_size(WRITE_BUFFER_BYTES)
    opts.set_max_write_buffer_number(2)
    opts.set_write_buffer_manager(_WRITE_BUFFERS)
    table = BlockBasedOptions()
    table.set_block_cache(_CACHE)
    opts.set_block_based_table_factory(table)
    return opts


class RocksMapping(MutableMapping[bytes, bytes]):
    """bytes -> bytes in a RocksDB at ``path``, which must not exist yet or be ours."""

    def __init__(self, path: Path) -> None:
        self._db = Rdict(str(path), _options())
        no_wal = WriteOptions()
        no_wal.disable_wal = True  # type: ignore[assignment,method-assign]  # a property; the stub says method
        self._db.set_write_options(no_wal)

    def __getitem__(self, key: bytes) -> bytes:
        value = self._db.get(key)
        if value is None:
            raise KeyError(key)
        return value  # type: ignore[no-any-return]

    def get(self, key: bytes, default: Any = None) -> Any:
        value = self._db.get(key)
        return default if value is None else value

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self._db.put(key, value)

    def __delitem__(self, key: bytes) -> None:
        if self._db.get(key) is None:
            raise KeyError(key)
        self._db.delete(key)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, bytes) and self._db.get(key) is not None

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._db.keys())  # type: ignore[arg-type]  # the stub's __iter__ is wrong

    def __len__(self) -> int:
        """Counted by a scan: Faust's tables never ask on the worker's paths."""
        return sum(1 for _ in self)

    def pairs(self) -> Iterator[tuple[bytes, bytes]]:
        return iter(self._db.items())  # type: ignore[arg-type]

    def clear(self) -> None:
        for key in list(self._db.keys()):
            self._db.delete(key)

    def close(self) -> None:
        self._db.close()


class SpillStore(memory.Store):  # type: ignore[type-arg]  # Faust's own is untyped
    """Faust's in-memory store with its two mappings (values, and the changelog partition
    of each key recovered) in RocksDB."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)  # the memory store's (empty dicts, replaced here)
        root = Path(self.app.conf.tabledir) / "spill"
        remove_abandoned(root)
        root.mkdir(parents=True, exist_ok=True)
        self._dir = Path(tempfile.mkdtemp(prefix=f"{os.getpid()}-{self.table_name}-", dir=root))
        self.data: RocksMapping = RocksMapping(self._dir / "values")
        self._partitions = RocksMapping(self._dir / "partitions")  # key -> changelog partition

    def apply_changelog_batch(
        self,
        batch: Iterable[EventT[Any]],
        to_key: Callable[[Any], Any],
        to_value: Callable[[Any], Any],
    ) -> None:
        """Recovery and standby copies: the memory store's semantics (a tombstone deletes,
        the partition of each key is noted for ``on_recovery_completed``)."""
        for event in batch:
            key = to_key(event.key)
            if event.message.value is None:
                self.data.pop(key, None)
                self._partitions.pop(key, None)
            else:
                self.data[key] = to_value(event.value)
                self._partitions[key] = event.message.partition.to_bytes(4, "big")

    async def on_recovery_completed(self, active_tps: Set[TP], standby_tps: Set[TP]) -> None:
        """Drop the recovered keys of partitions this worker no longer has (as the memory
        store does)."""
        active = {partition for _, partition in active_tps}
        gone = [k for k, p in self._partitions.pairs() if int.from_bytes(p, "big") not in active]
        for key in gone:
            self.data.pop(key, None)
            self._partitions.pop(key, None)

    async def on_stop(self) -> None:
        self.close()

    def close(self) -> None:
        self.data.close()
        self._partitions.close()
        shutil.rmtree(self._dir, ignore_errors=True)


def remove_abandoned(root: Path) -> None:
    """Remove the databases of processes that are no longer running."""
    if not root.is_dir():
        return
    for path in root.iterdir():
        pid = path.name.split("-", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _running(int(pid)):
            shutil.rmtree(path, ignore_errors=True)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def register() -> None:
    """Make ``spill://`` a Faust store URL."""
    from faust.stores import STORES

    STORES.aliases["spill"] = "agents.spill_store:SpillStore"
