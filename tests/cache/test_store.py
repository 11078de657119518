"""Both response stores: TTL, LRU bounds by entries and bytes, per-model clear, stats, file mode."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ccproxy_desktop.cache.store import MemoryResponseStore, ResponseStore, SqliteResponseStore


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


StoreFactory = Callable[[float, int, int, Clock], ResponseStore]


@pytest.fixture(params=["memory", "sqlite"])
def make(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreFactory]:
    opened: list[ResponseStore] = []

    def factory(ttl: float, max_entries: int, max_bytes: int, clock: Clock) -> ResponseStore:
        if request.param == "memory":
            store: ResponseStore = MemoryResponseStore(ttl, max_entries, max_bytes, clock)
        else:
            store = SqliteResponseStore(tmp_path / "cache.db", ttl, max_entries, max_bytes, clock)
        opened.append(store)
        return store

    yield factory
    for store in opened:
        store.close()


def test_entries_expire_after_the_ttl(make: StoreFactory) -> None:
    clock = Clock()
    store = make(60, 10, 10_000, clock)
    store.put("m:1", "m", "one")
    clock.now += 59
    assert store.get("m:1") == "one"
    clock.now += 2
    assert store.get("m:1") is None
    assert store.stats().entries == 0


def test_the_least_recently_used_entry_goes_first(make: StoreFactory) -> None:
    clock = Clock()
    store = make(600, 2, 10_000, clock)
    store.put("m:1", "m", "one")
    clock.now += 1
    store.put("m:2", "m", "two")
    clock.now += 1
    assert store.get("m:1") == "one"  # now more recent than m:2
    clock.now += 1
    store.put("m:3", "m", "three")
    assert (store.get("m:1"), store.get("m:2"), store.get("m:3")) == ("one", None, "three")


def test_the_size_bound_counts_bytes(make: StoreFactory) -> None:
    clock = Clock()
    store = make(600, 100, 10, clock)
    store.put("m:1", "m", "x" * 6)
    clock.now += 1
    store.put("m:2", "m", "y" * 6)
    assert store.get("m:1") is None
    assert store.get("m:2") == "y" * 6
    clock.now += 1
    store.put("m:3", "m", "z" * 11)  # larger than the bound on its own: not kept
    assert store.stats().size_bytes <= 10


def test_clear_one_model_or_all(make: StoreFactory) -> None:
    store = make(600, 100, 10_000, Clock())
    for key, model in (("a:1", "a"), ("a:2", "a"), ("b:1", "b")):
        store.put(key, model, key)
    assert store.stats().by_model == {"a": 2, "b": 1}
    assert store.clear("a") == 2
    assert (store.get("a:1"), store.get("b:1")) == (None, "b:1")
    assert store.clear() == 1
    assert store.stats().entries == 0


def test_replacing_an_entry_keeps_one(make: StoreFactory) -> None:
    store = make(600, 100, 10_000, Clock())
    store.put("m:1", "m", "old")
    store.put("m:1", "m", "new")
    assert store.get("m:1") == "new"
    assert store.stats().entries == 1
    assert store.stats().size_bytes == 3


def test_the_file_is_private_and_shared(tmp_path: Path) -> None:
    path = tmp_path / "cache.db"
    writer = SqliteResponseStore(path, 600, 10, 10_000)
    reader = SqliteResponseStore(path, 600, 10, 10_000)
    try:
        writer.put("m:1", "m", "shared")
        assert reader.get("m:1") == "shared"
        assert reader.clear("m") == 1
        assert writer.get("m:1") is None
    finally:
        writer.close()
        reader.close()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
