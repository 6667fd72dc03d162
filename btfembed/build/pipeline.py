"""``btfembed build``: objects x kernels -> one minimized BTF per kernel.

Flow:

1. objects are read, hashed and parsed once, in this process (worker
   processes inherit them);
2. every kernel file is hashed (read, never decompressed here), unless the
   stat memo (``btfembed.build.statmemo``) knows its digest;
3. a kernel whose *result* (its BTF for exactly these objects, options and
   btfembed version) is cached is done;
4. the others go to a process pool (or a Dask cluster, see
   ``btfembed.build.executors``).  Each object's *analysis* (its relocation
   results on that kernel, its marks and the kernel types they need) is
   assembled from the kernel's *outcome book* (``btfembed.build.outcomes``:
   the outcome of each distinct relocation seen on that kernel, keyed by
   what it depends on, see ``minimize.pieces``).  Only relocations the book
   does not know make the worker open the kernel, and only they are
   resolved: from the kernel store (``btfembed.build.store``) when it was
   decoded before, else by decompressing and parsing the file (and then
   storing it).  The union is then emitted and checked from the analyses
   alone (see ``minimize.assemble``); objects already checked clean against
   the same emitted bytes are not checked again, and the others replay
   their relocations over the outcomes on the emitted BTF
   (``outcomes.CheckMemo``);
5. results are gathered in key order, so the bytes do not depend on the
   number of jobs or the order of inputs; nothing is written until every
   kernel is done.
"""

from __future__ import annotations

import hashlib
import os
import signal
import threading
import time
from typing import Any, TYPE_CHECKING, Callable, NamedTuple, Sequence

from btfembed import __version__
from btfembed.build.cache import (
    Cache, blob_from_plain, blob_to_plain, digest,
    summaries_from_plain, summaries_to_plain,
)
from btfembed.core.resolve import Target, root_names
from btfembed.errors import BTFEmbedError
from btfembed.inputs.files import read_bytes
from btfembed.build.kernels import KernelInput
from btfembed.build import sources
from btfembed.build.statmemo import StatMemo
from btfembed.build.store import DEFAULT_MAX, KernelStore
from btfembed.btf.reader import BTF
from btfembed.btf.strings import essential_name
from btfembed.build.outcomes import CheckMemo, MissingTypes, OutcomeBook
from btfembed.minimize.engine import NeedsKernel, ObjectAnalysis, assemble, check_compat_input, minimize
from btfembed.minimize.pieces import KernelPieces, LocalPlan, compose, plan, replay
from btfembed.minimize.blob import Emitted
from btfembed.minimize.levels import Level
from btfembed.minimize.loader import for_loader, get_loader, loader_notes
from btfembed.inputs.objects import BpfObject
from btfembed.core.results import Summary

if TYPE_CHECKING:
    import concurrent.futures as futures

    from btfembed.build.shards import ShardInfo

__all__ = ["ObjectInput", "KernelResult", "BuildResult", "Options", "run_build", "load_object_inputs"]


class ObjectInput(NamedTuple):
    path: str
    digest: str
    obj: BpfObject
    data: bytes


class Options(NamedTuple):
    compat: bool = False
    header_size: int = 24
    loader: str = "libbpf"      # see btfembed.minimize.loader
    # Applications' BTF (path, raw bytes), searched with every kernel's types.
    userspace: tuple[tuple[str, bytes], ...] = ()
    userspace_collisions: str = "warn"   # warn, error or ignore

    def cache_key(self) -> list[object]:
        key: list[object] = [__version__, self.compat, self.header_size]
        if self.loader != "libbpf":
            key.append(self.loader)
        if self.userspace:
            key.append(["userspace", self.userspace_collisions,
                        *(hashlib.sha256(raw).hexdigest() for _p, raw in self.userspace)])
        return key


class KernelResult(NamedTuple):
    kernel: KernelInput
    digest: str
    blob: bytes | None
    summaries: tuple[Sequence[Summary], ...]     # per object, in ObjectInput order
    level: int
    error: str | None = None
    cached: bool = False        # the whole result came from the cache
    loaded: bool = False        # the kernel BTF was opened (from the store or the file)
    analyzed: int = 0           # object analyses not assembled from the cache alone (the kernel's
                                # outcome book as read from the cache)
    seconds: float = 0.0
    decoded: bool = False       # the kernel file was read and decompressed (not in the store)
    damaged: tuple[str, ...] = ()  # damaged cache entries met (ignored, recomputed, overwritten)
    notes: tuple[str, ...] = ()    # what --loader rewrote, relocations it could not keep
    resolved: int = 0           # distinct relocations resolved against the kernel (not from its outcome book)
    checked: int = 0            # objects checked against the emitted BTF (not known clean)


class BuildResult(NamedTuple):
    objects: tuple[ObjectInput, ...]
    kernels: tuple[KernelResult, ...]
    hashed: int = 0             # kernel files read to compute their digest (not in the stat memo)
    damaged: tuple[str, ...] = ()  # every damaged cache entry met, in the parent or the workers
    shard: "ShardInfo | None" = None  # set when this is one shard of a build (btfembed.build.shards)

    @property
    def resolved(self) -> int:
        """Distinct relocations resolved against kernels (not from their outcome books)."""
        return sum(k.resolved for k in self.kernels)

    @property
    def checked(self) -> int:
        """Objects checked against an emitted BTF (not known clean)."""
        return sum(k.checked for k in self.kernels)

    @property
    def ok(self) -> list[KernelResult]:
        return [k for k in self.kernels if k.error is None]

    @property
    def failed(self) -> list[KernelResult]:
        return [k for k in self.kernels if k.error is not None]

    def stats(self) -> dict[str, int]:
        blobs = {k.blob for k in self.ok}
        return {
            "kernels": len(self.kernels),
            "failed": len(self.failed),
            "cached": sum(k.cached for k in self.kernels),
            "kernels_loaded": sum(k.loaded for k in self.kernels),
            "kernels_decoded": sum(k.decoded for k in self.kernels),
            "analyses_computed": sum(k.analyzed for k in self.kernels),
            "unique_blobs": len(blobs),
            "blob_bytes": sum(len(b) for b in blobs if b),
        }


def load_object_inputs(paths: Sequence[str]) -> tuple[ObjectInput, ...]:
    """Read, hash and parse each object once; sorted by path, duplicates dropped."""
    out = []
    for path in sorted(set(paths)):
        data = read_bytes(path)
        out.append(ObjectInput(path, hashlib.sha256(data).hexdigest(), BpfObject(data, source=path), data))
    return tuple(out)


# Worker state: set in the parent before forking (or by the initializer).
_OBJECTS: tuple[ObjectInput, ...] = ()
_ROOT_NAMES: set[str] = set()   # candidate names looked up while indexing kernels
_OPTIONS = Options()
_CACHE = Cache(None)
_STORE = KernelStore(None)


def _init_worker(objects: tuple[tuple[str, bytes], ...] | None, options: Options, cache_root: str | None,
                 store_max: int = DEFAULT_MAX) -> None:
    global _OBJECTS, _OPTIONS, _CACHE, _ROOT_NAMES, _STORE
    if objects is not None:  # not forked: parse again from bytes
        _OBJECTS = tuple(ObjectInput(p, hashlib.sha256(d).hexdigest(), BpfObject(d, source=p), d) for p, d in objects)
        _ROOT_NAMES = _root_names(_OBJECTS)
    _OPTIONS = options
    _CACHE = Cache(cache_root)
    _STORE = KernelStore(cache_root, store_max)


def _init_local_worker(parent: int, *args: Any) -> None:
    """Initializer of a local worker process: it dies with the build (a
    killed parent must not leave workers running, holding its stdout open),
    leaves SIGINT to the parent (which then stops every worker) and takes
    SIGTERM's default action."""
    _die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _init_worker(*args)


_PR_SET_PDEATHSIG = 1


def _die_with_parent(parent: int) -> None:
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # pragma: no cover - not Linux
        pass
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def _stop_workers(pool: futures.ProcessPoolExecutor) -> None:
    """Kill the pool's worker processes now (an interrupted build does not
    wait for the kernels they are working on)."""
    procs = getattr(pool, "_processes", None) or {}
    for p in list(procs.values()):
        try:
            p.kill()
        except (OSError, ValueError, AttributeError):
            pass
    pool.shutdown(wait=False, cancel_futures=True)


def _root_names(objects: Sequence[ObjectInput]) -> set[str]:
    return set().union(*(root_names(o.obj.btf, o.obj.relocations) for o in objects))


def _result_deps(kernel_digest: str) -> dict[str, object]:
    return {"options": _OPTIONS.cache_key(), "kernel": kernel_digest, "objects": [o.digest for o in _OBJECTS]}


def _result_key(kernel_digest: str) -> str:
    return digest("result", _OPTIONS.cache_key(), kernel_digest, [o.digest for o in _OBJECTS])


# The summaries of this build's results, by value: a result's summaries
# are replaced by equal ones met before, so that thousands of similar
# kernels' results share them (2,000 kernels x 8 objects: 0.5 million
# summaries, most of them equal to another kernel's).
_SUMMARIES: dict[Summary, Summary] = {}


def _shared(r: KernelResult) -> KernelResult:
    one = _SUMMARIES.setdefault
    return r._replace(summaries=tuple(tuple(one(s, s) for s in per) for per in r.summaries))


def _decode_result(entry: dict[str, Any]) -> tuple[bytes, tuple[tuple[Summary, ...], ...], int, tuple[str, ...]]:
    blob = blob_from_plain(entry["blob"])
    sums = tuple(summaries_from_plain(s, _SUMMARIES) for s in entry["summaries"])
    if len(sums) != len(_OBJECTS) or hashlib.sha256(blob).hexdigest() != entry["blob_sha256"]:
        raise ValueError("inconsistent result entry")
    notes = entry.get("notes", [])
    if not isinstance(notes, list) or not all(isinstance(n, str) for n in notes):
        raise ValueError("inconsistent result entry")
    return blob, sums, int(entry["level"]), tuple(notes)


def _cached_result(kernel: KernelInput, kernel_digest: str) -> KernelResult | None:
    hit = _CACHE.get("result", _result_key(kernel_digest), _result_deps(kernel_digest), _decode_result)
    if hit is None:
        return None
    blob, sums, level, notes = hit
    return KernelResult(kernel, kernel_digest, blob, sums, level, cached=True, notes=notes)


def _open_kernel(kernel: KernelInput, kernel_digest: str, prefetch: set[str]) -> tuple[Target, bool]:
    """The kernel's BTF (from the store when it is there) and its modules;
    (target, decoded)."""
    # Keyed by version too: an entry holds only data this version checked.
    store_key = digest("kernel-store", __version__, kernel_digest)
    stored = _STORE.get(store_key)
    btf: BTF | None = None
    decoded = False
    if stored is not None:
        try:
            btf = BTF(stored.raw, source=kernel.path, prefetch=sorted(prefetch), offsets=stored.offsets,
                      checked=True, name_index=(stored.name_offs, stored.odd))
        except BTFEmbedError:
            pass  # verified but unusable (another btfembed's entry): decode the file
    if btf is None:
        btf = sources.load_kernel(kernel.path, kernel_digest, _CACHE, prefetch=prefetch)
        decoded = True
        index = btf.name_index() if btf.base is None and _STORE.enabled else None
        if index is not None:
            _STORE.put(store_key, btf.raw, btf.type_offsets(), *index)
    target = sources.with_modules(btf, kernel.modules, prefetch)
    if _OPTIONS.userspace:
        target = target._replace(userspace=_userspace_btfs(prefetch))
    if kernel.modules:
        _CACHE.put("start-ids", kernel_digest, _start_ids_of(target))
    return target, decoded


_USERSPACE: dict[tuple[str, ...], tuple[BTF, ...]] = {}


def _userspace_btfs(prefetch: set[str]) -> tuple[BTF, ...]:
    """The applications' BTFs (parsed once per process and option set)."""
    key = tuple(hashlib.sha256(raw).hexdigest() for _p, raw in _OPTIONS.userspace)
    btfs = _USERSPACE.get(key)
    if btfs is None:
        btfs = _USERSPACE[key] = tuple(BTF(raw, source=p, prefetch=sorted(prefetch))
                                       for p, raw in _OPTIONS.userspace)
    return btfs


def _start_ids_of(target: Target) -> list[int]:
    return [1] + [m.start_id for m in target.modules] + [1] * len(target.userspace)


def _start_ids(kernel: KernelInput, kernel_digest: str, target: Target | None) -> list[int] | None:
    """First type id of the kernel and of each module (None: unknown
    without opening the kernel)."""
    if target is not None:
        return _start_ids_of(target)
    apps = [1] * len(_OPTIONS.userspace)
    if not kernel.modules:
        return [1, *apps]
    entry = _CACHE.get("start-ids", kernel_digest)
    if isinstance(entry, list) and len(entry) == len(kernel.modules) + 1 + len(apps) and all(
            isinstance(i, int) for i in entry):
        return entry
    return None


def _process(kernel: KernelInput, kernel_digest: str) -> KernelResult:
    seen = len(_CACHE.damaged)
    r = _process_kernel(kernel, kernel_digest)
    return r._replace(damaged=tuple(_CACHE.damaged[seen:])) if len(_CACHE.damaged) > seen else r


_PLANS: dict[tuple[str, str], LocalPlan] = {}


def _plan(o: ObjectInput) -> LocalPlan:
    """The object's replay plan (``minimize.pieces``), made once per process
    (by path too: messages and summaries name the object's own path)."""
    p = _PLANS.get((o.digest, o.path))
    if p is None:
        p = _PLANS[(o.digest, o.path)] = plan(o.obj)
    return p


def _analyses(kernel: KernelInput, kernel_digest: str, book: OutcomeBook,
              stats: dict[str, int]) -> tuple[list[ObjectAnalysis], Target | None, bool]:
    """Every object's analysis on the kernel, assembled from the kernel's
    outcome book; objects with relocations the book does not know make the
    kernel open (only those relocations are resolved against it, and only
    their roots' names looked up).  Returns (analyses, target if opened,
    decoded)."""
    analyses: list[ObjectAnalysis | None] = [None] * len(_OBJECTS)
    target: Target | None = None
    decoded = False
    needs: dict[int, set[int]] = {}     # object -> local roots the book does not know
    failure: BTFEmbedError | None = None
    for i, o in enumerate(_OBJECTS):
        try:
            if _OPTIONS.compat:
                check_compat_input(o.obj)
            p = _plan(o)
            missing: set[int] = set()
            book.used_fresh = False
            r = replay(p, book, missing)
            if r is None:
                needs[i] = missing
                continue
            analyses[i] = compose(p, r, book.type_of)
        except BTFEmbedError as exc:
            failure = exc   # raised unless an earlier object fails first
            break
        if book.used_fresh or not book.persisted:
            stats["analyzed"] += 1   # not (all) from the cache
    if needs:
        names = {essential_name(o.obj.btf.type(tid).name) for i, o in enumerate(_OBJECTS) if i in needs
                 for tid in needs[i]}
        target, decoded = _open_kernel(kernel, kernel_digest, names)
        kernel_type = book.use_kernel(target)
        for i in sorted(needs):
            o = _OBJECTS[i]
            source = KernelPieces(target, o.obj, compat=_OPTIONS.compat, known=book)
            try:
                r = replay(_plan(o), source)
                assert r is not None
                analyses[i] = compose(_plan(o), r, kernel_type)
            finally:
                stats["resolved"] += source.resolved
            stats["analyzed"] += 1
    if failure is not None:
        raise failure
    return [a for a in analyses if a is not None], target, decoded


def _process_kernel(kernel: KernelInput, kernel_digest: str) -> KernelResult:
    start = time.perf_counter()
    objects = [o.obj for o in _OBJECTS]
    target: Target | None = None
    decoded = False
    stats = {"analyzed": 0, "resolved": 0}
    book = OutcomeBook(_CACHE, _OPTIONS.cache_key(), kernel_digest)
    memo = CheckMemo(_CACHE, _OPTIONS.cache_key(), kernel_digest, objects, [o.digest for o in _OBJECTS],
                     lambda i: _plan(_OBJECTS[i]))

    def opened(names: set[str]) -> tuple[Target, bool]:
        """The kernel, opened now (the book then reads from it what it lacks)."""
        got = _open_kernel(kernel, kernel_digest, names)
        book.use_kernel(got[0])
        return got

    try:
        try:
            analyses, target, decoded = _analyses(kernel, kernel_digest, book, stats)
            if target is None and book.byte_order is None:  # no relocation needed the kernel yet
                target, decoded = opened(set())
        finally:
            book.save()
        order = book.byte_order
        assert order is not None
        if _OPTIONS.compat:
            order = "little"
        start_ids = _start_ids(kernel, kernel_digest, target)
        if start_ids is None:
            target, decoded = opened(set())
            start_ids = _start_ids_of(target)

        def assembled() -> tuple[Emitted, Level]:
            return assemble(objects, analyses, start_ids, compat=_OPTIONS.compat, byte_order=order,
                            hdr_len=_OPTIONS.header_size, check_memo=memo, emit_memo=book)

        try:
            try:
                try:
                    emitted, level = assembled()
                except MissingTypes:  # the book's types entry was damaged: take them from the kernel
                    if target is None:
                        target, decoded = opened(set())
                    emitted, level = assembled()
            finally:
                memo.save()
                book.save()
        except NeedsKernel:
            if target is None:
                target, decoded = opened(set())
            m = minimize(objects, target, compat=_OPTIONS.compat, byte_order=order,
                         hdr_len=_OPTIONS.header_size, analyses=analyses)
            emitted, level = m.emitted, m.level
        blob, notes = _for_loader(objects, analyses, emitted)
        if _OPTIONS.userspace and _OPTIONS.userspace_collisions != "ignore":
            if target is None:
                target, decoded = opened(_ROOT_NAMES)
            notes = (*_collisions(target), *notes)
    except BTFEmbedError as exc:
        return KernelResult(kernel, kernel_digest, None, (), 0, error=str(exc), loaded=target is not None,
                            analyzed=stats["analyzed"], seconds=time.perf_counter() - start, decoded=decoded,
                            resolved=stats["resolved"], checked=memo.checked)
    sums = tuple(a.summaries for a in analyses)
    _CACHE.put("result", _result_key(kernel_digest), {
        "blob": blob_to_plain(blob), "blob_sha256": hashlib.sha256(blob).hexdigest(), "level": level,
        "summaries": [summaries_to_plain(s) for s in sums], "notes": list(notes)}, _result_deps(kernel_digest))
    return KernelResult(kernel, kernel_digest, blob, sums, level, loaded=target is not None,
                        analyzed=stats["analyzed"], seconds=time.perf_counter() - start, decoded=decoded,
                        notes=notes, resolved=stats["resolved"], checked=memo.checked)


def _for_loader(objects: Sequence[BpfObject], analyses: Sequence[ObjectAnalysis],
                emitted: Emitted) -> tuple[bytes, tuple[str, ...]]:
    """The blob rewritten for ``--loader`` (when not the default), and notes
    on what changed."""
    if _OPTIONS.loader == "libbpf":
        return emitted.data, ()
    loader = get_loader(_OPTIONS.loader)
    out = for_loader(objects, [a.summaries for a in analyses], emitted.data, emitted.old_ids, loader,
                     hdr_len=_OPTIONS.header_size)
    return out.data, loader_notes(out, loader, [o.path for o in _OBJECTS])


def _collisions(target: Target) -> tuple[str, ...]:
    """Warning lines for kernel/application name collisions; raises
    ``CheckFailed`` with ``userspace_collisions = "error"``."""
    from btfembed.core.collisions import find_collisions
    from btfembed.errors import CheckFailed
    from btfembed.minimize.engine import resolve_object

    lines = tuple(f"collision: {o.path}: {c.line()}" for o in _OBJECTS
                  for c in find_collisions(o.obj.btf, resolve_object(o.obj, target), target))
    if lines and _OPTIONS.userspace_collisions == "error":
        raise CheckFailed(f"{len(lines)} relocation(s) with candidates in both the kernel and an application "
                          f"(userspace_collisions = 'error'; first: {lines[0]})")
    return lines


def _process_args(args: tuple[KernelInput, str]) -> KernelResult:
    return _process(*args)


# With one job, up to this many kernels are processed in this process; more
# go to one worker process.  Kernel after kernel in one process, the results
# kept (small, long-lived) pin the allocator's memory of every kernel's
# temporary objects: measured, peak RSS grew by about 7 MB per kernel (755 MB
# after 100 kernels), where a worker process that sends its results away
# stays flat (68 MB).
IN_PROCESS_MAX = 8


def default_jobs() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover
        return os.cpu_count() or 1


def run_build(objects: tuple[ObjectInput, ...], kernels: Sequence[KernelInput], *, options: Options,
              cache: Cache, jobs: int = 0,
              progress: Callable[[KernelResult, int, int], None] | None = None,
              store_max: int = DEFAULT_MAX, executor: str | None = None) -> BuildResult:
    """Minimize every kernel for ``objects``; see the module documentation.

    ``store_max``: size limit of the kernel store in the cache (0: no
    store).  ``executor``: ``None`` or ``"local"`` for local worker
    processes, ``"dask://HOST:PORT"`` for a Dask cluster
    (``btfembed.build.executors``)."""
    _SUMMARIES.clear()
    try:
        return _run_build(objects, kernels, options=options, cache=cache, jobs=jobs, progress=progress,
                          store_max=store_max, executor=executor)
    finally:
        _SUMMARIES.clear()   # the results keep what they share


def _run_build(objects: tuple[ObjectInput, ...], kernels: Sequence[KernelInput], *, options: Options,
               cache: Cache, jobs: int, progress: Callable[[KernelResult, int, int], None] | None,
               store_max: int, executor: str | None) -> BuildResult:
    global _OBJECTS, _OPTIONS, _CACHE, _ROOT_NAMES, _STORE
    from btfembed.build.executors import parse_executor

    address = parse_executor(executor)
    _OBJECTS, _OPTIONS, _CACHE, _ROOT_NAMES = objects, options, cache, _root_names(objects)
    _STORE = KernelStore(cache.root, store_max)
    jobs = jobs or default_jobs()
    results: dict[int, KernelResult] = {}
    todo: list[tuple[int, KernelInput, str]] = []
    total = len(kernels)
    memo = StatMemo(cache.root)
    try:
        seen: dict[str, KernelResult] = {}   # one cache read per distinct kernel file
        for i, k in enumerate(kernels):
            d = sources.input_digest(k.path, k.modules, memo.digest)
            hit = seen[d]._replace(kernel=k) if d in seen else _cached_result(k, d)
            if hit is not None:
                seen[d] = hit
                results[i] = hit
                if progress:
                    progress(hit, len(results), total)
            else:
                todo.append((i, k, d))
    finally:
        memo.save()

    def done(i: int, r: KernelResult) -> None:
        results[i] = _shared(r)
        if progress:
            progress(results[i], len(results), total)

    if todo and address is not None:
        from btfembed.build.executors import run_on_dask

        context = _WorkerContext(tuple((o.path, o.data) for o in objects), options, cache.root, store_max)
        run_on_dask(address, context, [(i, k, d) for i, k, d in todo], done)
    elif todo and (len(todo) == 1 or (jobs == 1 and len(todo) <= IN_PROCESS_MAX)):
        for i, k, d in todo:
            done(i, _process(k, d))
    elif todo:
        import concurrent.futures as futures  # a build with nothing to do starts no pool
        import multiprocessing

        forked = "fork" in multiprocessing.get_all_start_methods()
        ctx = multiprocessing.get_context("fork" if forked else None)
        init_objects = None if forked else tuple((o.path, o.data) for o in objects)
        with futures.ProcessPoolExecutor(max_workers=min(jobs, len(todo)), mp_context=ctx,
                                         initializer=_init_local_worker,
                                         initargs=(os.getpid(), init_objects, options, cache.root, store_max)) as pool:
            try:
                pending = {pool.submit(_process_args, (k, d)): i for i, k, d in todo}
                for fut in futures.as_completed(pending):
                    done(pending[fut], fut.result())
            except BaseException:
                _stop_workers(pool)
                raise
    if any(r.decoded for r in results.values()):
        _STORE.evict()
    parent_damage = [p for p in cache.damaged] + ([memo.path] if memo.damaged and memo.path else [])
    worker_damage = [p for r in results.values() for p in r.damaged if p not in parent_damage]
    return BuildResult(objects, tuple(results[i] for i in range(total)), memo.hashed,
                       tuple(dict.fromkeys(parent_damage + worker_damage)))


class _WorkerContext(NamedTuple):
    """What a worker needs to process kernels (sent to Dask workers once)."""
    objects: tuple[tuple[str, bytes], ...]
    options: Options
    cache_root: str | None
    store_max: int

    def key(self) -> str:
        return digest("context", [[p, hashlib.sha256(d).hexdigest()] for p, d in self.objects],
                      self.options.cache_key(), self.cache_root, self.store_max)


_CONTEXT_KEY: str | None = None
_CONTEXT_LOCK = threading.Lock()


def process_in_context(context: _WorkerContext, key: str, kernel: KernelInput, kernel_digest: str) -> KernelResult:
    """One kernel on a remote worker: set the worker up for ``context``
    (once per process and context), then ``_process``."""
    global _CONTEXT_KEY
    with _CONTEXT_LOCK:
        if _CONTEXT_KEY != key:
            _init_worker(context.objects, context.options, context.cache_root, context.store_max)
            _CONTEXT_KEY = key
    return _process(kernel, kernel_digest)
