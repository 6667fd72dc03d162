"""The kernel store (decoded kernels kept in the cache, LRU-bounded,
verified on read) and the stat memo (no re-hashing of unchanged kernel
files), on the in-repo kernels."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from array import array
from pathlib import Path

import pytest

from btfembed.build import pipeline
from btfembed.build.cache import Cache
from btfembed.build.kernels import discover
from btfembed.build.pipeline import Options, load_object_inputs, run_build
from btfembed.build.settings import KernelSpec
from btfembed.build.statmemo import RACY_NS, StatMemo
from btfembed.build.store import KernelStore, parse_size
from btfembed.errors import ConfigError

from conftest import OBJS, REPO_KERNELS, CountingLoad

OBJ_A = str(OBJS / "task_small.el.o")
OBJ_B = str(OBJS / "tracer.el.o")
OBJ_C = str(OBJS / "kernel_c19.el.o")
OBJ_D = str(OBJS / "synth_fields.el.o")


def settled_kernels(tmp_path: Path) -> list:
    """The in-repo kernels copied to ``tmp_path`` with timestamps old
    enough for the stat memo to trust."""
    d = tmp_path / "kernels"
    d.mkdir()
    for p in REPO_KERNELS.iterdir():
        if "__" not in p.name:
            shutil.copy(p, d / p.name)
    past = time.time() - 3600
    for p in d.iterdir():
        os.utime(p, (past, past))
    time.sleep(2 * RACY_NS / 1e9)  # ctime, too, must be past the racy window
    return discover([KernelSpec(str(d))])


def build(objs: list[str], kernels: list, cache: Cache, **kw):  # type: ignore[no-untyped-def]
    return run_build(load_object_inputs(objs), kernels, options=Options(), cache=cache, jobs=1, **kw)


def test_changed_and_added_objects_decode_no_archive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    kernels = settled_kernels(tmp_path)
    cache = Cache(str(tmp_path / "cache"))
    loads = CountingLoad(monkeypatch)
    first = build([OBJ_A, OBJ_B], kernels, cache)
    assert len(loads.calls) == len(kernels) == first.stats()["kernels_decoded"] == 3
    assert KernelStore(cache.root).size() > 0
    loads.calls.clear()
    changed = build([OBJ_A, OBJ_C], kernels, cache)            # OBJ_B "changed" into OBJ_C
    added = build([OBJ_A, OBJ_C, OBJ_D], kernels, cache)       # then one more object
    assert loads.calls == []
    for b in (changed, added):
        st = b.stats()
        assert st["kernels_decoded"] == 0 and st["kernels_loaded"] == 3 and st["cached"] == 0
    # Identical to builds without any cache.
    for b, objs in ((changed, [OBJ_A, OBJ_C]), (added, [OBJ_A, OBJ_C, OBJ_D])):
        fresh = build(objs, kernels, Cache(None))
        assert [k.blob for k in b.kernels] == [k.blob for k in fresh.kernels]
        assert [k.summaries for k in b.kernels] == [k.summaries for k in fresh.kernels]


def test_store_disabled_by_zero_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    kernels = settled_kernels(tmp_path)
    cache = Cache(str(tmp_path / "cache"))
    loads = CountingLoad(monkeypatch)
    build([OBJ_A], kernels, cache, store_max=0)
    build([OBJ_C], kernels, cache, store_max=0)
    assert len(loads.calls) == 6
    assert not (tmp_path / "cache" / "v1" / "kernels").exists()


def test_damaged_store_entry_is_a_miss(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    kernels = settled_kernels(tmp_path)
    cache = Cache(str(tmp_path / "cache"))
    build([OBJ_A], kernels, cache)
    entries = KernelStore(cache.root).entries()
    assert len(entries) == 3
    # Flip one byte in the middle of one entry, truncate another.
    victim, short = entries[0][2], entries[1][2]
    data = bytearray(Path(victim).read_bytes())
    data[len(data) // 2] ^= 0x40
    Path(victim).write_bytes(bytes(data))
    Path(short).write_bytes(Path(short).read_bytes()[:-100])
    loads = CountingLoad(monkeypatch)
    again = build([OBJ_C], kernels, cache)
    assert len(loads.calls) == 2 and again.stats()["kernels_decoded"] == 2
    fresh = build([OBJ_C], kernels, Cache(None))
    assert [k.blob for k in again.kernels] == [k.blob for k in fresh.kernels]
    # The damaged entries were replaced by good ones.
    store = KernelStore(cache.root)
    for _, _, path in store.entries():
        assert store.get(os.path.basename(path)) is not None
    assert store.damaged == 0


def test_store_entry_roundtrip_and_verification(tmp_path: Path) -> None:
    store = KernelStore(str(tmp_path))
    raw = bytes(range(256)) * 40
    offs = array("I", [0, 5, 9, 400])
    store.put("ab" * 32, raw, offs, array("I", [1, 0, 7, 7]), array("I", [2]))
    got = store.get("ab" * 32)
    assert got is not None and got.raw == raw and list(got.offsets) == list(offs)
    assert list(got.name_offs) == [1, 0, 7, 7] and list(got.odd) == [2]
    assert store.get("cd" * 32) is None
    path = store.entries()[0][2]
    with open(path, "r+b") as f:  # damage the header's digest
        f.seek(24)
        f.write(b"\0" * 4)
    assert store.get("ab" * 32) is None and store.damaged == 1
    assert not os.path.exists(path)  # a damaged entry is removed


def test_eviction_keeps_the_most_recently_used(tmp_path: Path) -> None:
    store = KernelStore(str(tmp_path))
    keys = [f"{i:02x}" * 32 for i in range(4)]
    for n, key in enumerate(keys):
        store.put(key, os.urandom(20000), array("I", [0]), array("I", [0]), array("I"))
        t = time.time() - 1000 + n  # distinct, increasing recency
        os.utime(store._path(key), (t, t))
    assert store.get(keys[0]) is not None  # the oldest, now the most recent
    size = store.entries()[0][1]
    small = KernelStore(str(tmp_path), max_bytes=2 * size + size // 2)
    assert small.evict() == 2
    left = {os.path.basename(p) for _, _, p in small.entries()}
    assert left == {keys[0], keys[3]}
    assert small.size() <= small.max_bytes


def test_build_evicts_beyond_the_limit(tmp_path: Path) -> None:
    kernels = settled_kernels(tmp_path)
    cache = Cache(str(tmp_path / "cache"))
    build([OBJ_A], kernels, cache)
    sizes = sorted(size for _, size, _ in KernelStore(cache.root).entries())
    limit = sizes[-1] + sizes[-2]
    shutil.rmtree(tmp_path / "cache")
    build([OBJ_A], kernels, cache, store_max=limit)
    store = KernelStore(cache.root, limit)
    assert 1 <= len(store.entries()) < 3 and store.size() <= limit


def test_stat_memo_skips_unchanged_files(tmp_path: Path) -> None:
    kernels = settled_kernels(tmp_path)
    cache = Cache(str(tmp_path / "cache"))
    first = build([OBJ_A], kernels, cache)
    assert first.hashed == 3
    again = build([OBJ_A], kernels, cache)
    assert again.hashed == 0 and again.stats()["cached"] == 3
    # A new mtime (same content): hashed again, once.
    os.utime(kernels[1].path, (time.time() - 60, time.time() - 60))
    time.sleep(2 * RACY_NS / 1e9)
    touched = build([OBJ_A], kernels, cache)
    assert touched.hashed == 1 and touched.stats()["cached"] == 3
    assert build([OBJ_A], kernels, cache).hashed == 0


def test_stat_memo_sees_content_changes_with_restored_mtime(tmp_path: Path) -> None:
    f = tmp_path / "k.btf"
    f.write_bytes(b"a" * 1000)
    old = time.time() - 100
    os.utime(f, (old, old))
    time.sleep(2 * RACY_NS / 1e9)
    memo = StatMemo(str(tmp_path / "cache"))
    d1 = memo.digest(str(f))
    memo.save()
    assert StatMemo(str(tmp_path / "cache")).digest(str(f)) == d1
    f.write_bytes(b"b" * 1000)       # same size, then the old mtime back:
    os.utime(f, (old, old))          # only the ctime tells
    memo = StatMemo(str(tmp_path / "cache"))
    assert memo.digest(str(f)) != d1 and memo.hashed == 1


def test_racy_files_are_not_memoized(tmp_path: Path) -> None:
    f = tmp_path / "k.btf"
    f.write_bytes(b"x" * 100)  # modified just now
    memo = StatMemo(str(tmp_path / "cache"))
    memo.digest(str(f))
    memo.save()
    memo = StatMemo(str(tmp_path / "cache"))
    memo.digest(str(f))
    assert memo.hashed == 1


def test_corrupt_stat_memo_is_empty(tmp_path: Path) -> None:
    memo_file = tmp_path / "cache" / "v1" / "stat-memo.json"
    memo_file.parent.mkdir(parents=True)
    memo_file.write_bytes(b"{not json")
    kernels = settled_kernels(tmp_path)
    assert build([OBJ_A], kernels, Cache(str(tmp_path / "cache"))).hashed == 3
    assert build([OBJ_A], kernels, Cache(str(tmp_path / "cache"))).hashed == 0


def test_damaged_stat_memo_is_not_trusted(tmp_path: Path) -> None:
    """A memo whose entries were altered (two kernels' digests swapped, a
    valid JSON) would hand each kernel the other's cached result: its seal
    no longer matches, so it is not used: every file is hashed again, the
    results are right and the damage is reported."""
    import json as _json

    kernels = settled_kernels(tmp_path)
    cache = Cache(str(tmp_path / "cache"))
    first = build([OBJ_A], kernels, cache)
    memo_file = tmp_path / "cache" / "v1" / "stat-memo.json"
    head, _, body = memo_file.read_bytes().partition(b"\n")
    data = _json.loads(body)
    a, b = (os.path.abspath(k.path) for k in kernels[:2])
    files = data["files"]
    files[a][5], files[b][5] = files[b][5], files[a][5]
    memo_file.write_bytes(head + b"\n" + _json.dumps(data).encode())
    again = build([OBJ_A], kernels, Cache(str(tmp_path / "cache")))
    assert again.hashed == 3
    assert [k.blob for k in again.kernels] == [k.blob for k in first.kernels]
    assert str(memo_file) in again.damaged
    assert build([OBJ_A], kernels, Cache(str(tmp_path / "cache"))).hashed == 0


def test_sizes() -> None:
    assert parse_size("8G") == 8 << 30 and parse_size("500M") == 500 << 20 and parse_size("0") == 0
    assert parse_size("2GiB") == 2 << 30 and parse_size("1.5k") == 1536 and parse_size(42) == 42
    with pytest.raises(ConfigError):
        parse_size("lots")


@pytest.mark.parametrize("option,setting", [("--kernel-store-max", "kernel_store_max"), ("--cache-max", "cache_max")])
def test_cli_size_option_errors(tmp_path: Path, option: str, setting: str) -> None:
    proc = subprocess.run([sys.executable, "-m", "btfembed", "build", OBJ_A, "--kernels", str(REPO_KERNELS),
                           "--out-dir", str(tmp_path / "o"), option, "huge"],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and setting in proc.stderr
    assert not (tmp_path / "o").exists()


def test_stored_name_index_answers_like_a_fresh_open() -> None:
    """Lookups through a stored name index equal those of a fresh open, for
    every kernel and a spread of names (flavored ones too)."""
    import lzma
    import random

    from btfembed.btf.reader import BTF

    for path in sorted(REPO_KERNELS.glob("*.btf.xz")):
        if "__" in path.name:
            continue
        raw = lzma.decompress(path.read_bytes())
        names = sorted({s.decode() for s in raw.split(b"\0") if s.isascii() and s.decode().isidentifier()})
        sample = random.Random(3).sample(names, 300) + ["task_struct", "task_struct___old", "sk_buff___x"]
        fresh = BTF(raw, prefetch=sample[:50])
        index = fresh.name_index()
        assert index is not None and len(index[0]) == len(fresh.type_offsets())
        stored = BTF(raw, offsets=fresh.type_offsets(), checked=True, name_index=index, prefetch=sample[:50])
        plain = BTF(raw)
        for n in sample:
            assert stored.find_by_essential_name(n) == plain.find_by_essential_name(n), n


def test_one_job_over_many_kernels_uses_a_worker_with_the_same_results(tmp_path: Path) -> None:
    """Beyond IN_PROCESS_MAX kernels, one job runs in a worker process
    (flat memory); the results are those of the in-process path."""
    from btfembed.build.kernels import KernelInput
    from btfembed.embed.keys import KernelKey

    base = discover([KernelSpec(str(REPO_KERNELS))])
    many = [KernelInput(KernelKey(k.key.arch, f"d{n}", "1", k.key.release), k.path, k.origin, k.modules)
            for n in range(pipeline.IN_PROCESS_MAX // len(base) + 1) for k in base]
    assert len(many) > pipeline.IN_PROCESS_MAX
    pooled = build([OBJ_A, OBJ_B], many, Cache(None))
    inline = build([OBJ_A, OBJ_B], base, Cache(None))
    by_file = {k.kernel.path: (k.blob, k.summaries) for k in inline.kernels}
    assert all((k.blob, k.summaries) == by_file[k.kernel.path] for k in pooled.kernels)
