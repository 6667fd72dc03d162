"""``btfembed build``: objects x kernels -> one minimized BTF per kernel.

Flow:

1. objects are read, hashed and parsed once, in this process (worker
   processes inherit them);
2. every kernel file is hashed (read, never decompressed here);
3. a kernel whose *result* (its BTF for exactly these objects, options and
   btfembed version) is cached is done;
4. the others go to a process pool.  For each object, a cached *analysis*
   (the object's relocation results on that kernel, its marks and the kernel
   types they need) is reused; only objects without one make the worker
   decompress and parse the kernel.  The union is then emitted and checked
   from the analyses alone (see ``minimize.assemble``);
5. results are gathered in key order, so the bytes do not depend on the
   number of jobs or the order of inputs; nothing is written until every
   kernel is done.
"""

from __future__ import annotations

import concurrent.futures as futures
import hashlib
import multiprocessing
import os
import stat
import time
from typing import Callable, NamedTuple, Sequence

from btfembed import __version__
from btfembed.build.cache import (
    Cache, analysis_from_plain, analysis_to_plain, blob_from_plain, blob_to_plain, digest,
    summaries_from_plain, summaries_to_plain,
)
from btfembed.core.resolve import Target, root_names
from btfembed.errors import BTFEmbedError, FileAccessError
from btfembed.inputs.files import read_bytes
from btfembed.build.kernels import KernelInput
from btfembed.minimize.engine import NeedsKernel, ObjectAnalysis, analyze, assemble, minimize
from btfembed.inputs.objects import BpfObject
from btfembed.inputs.containers import MAX_INPUT_BYTES, load_btf
from btfembed.core.results import Summary

__all__ = ["ObjectInput", "KernelResult", "BuildResult", "Options", "run_build", "load_object_inputs"]


class ObjectInput(NamedTuple):
    path: str
    digest: str
    obj: BpfObject
    data: bytes


class Options(NamedTuple):
    compat: bool = False
    header_size: int = 24

    def cache_key(self) -> list:
        return [__version__, self.compat, self.header_size]


class KernelResult(NamedTuple):
    kernel: KernelInput
    digest: str
    blob: bytes | None
    summaries: tuple[tuple[Summary, ...], ...]   # per object, in ObjectInput order
    level: int
    error: str | None = None
    cached: bool = False        # the whole result came from the cache
    loaded: bool = False        # the kernel BTF was decompressed and parsed
    analyzed: int = 0           # object analyses computed (not from the cache)
    seconds: float = 0.0


class BuildResult(NamedTuple):
    objects: tuple[ObjectInput, ...]
    kernels: tuple[KernelResult, ...]

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


def _file_digest(path: str) -> str:
    """SHA-256 of a kernel file's bytes.  Only regular files are read: a
    FIFO would block and a device never end, so both are refused first."""
    h = hashlib.sha256()
    total = 0
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        with os.fdopen(fd, "rb") as f:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise FileAccessError(f"{path}: not a regular file")
            while chunk := f.read(1 << 20):
                total += len(chunk)
                if total > MAX_INPUT_BYTES:
                    raise FileAccessError(f"{path}: larger than the {MAX_INPUT_BYTES}-byte limit")
                h.update(chunk)
    except IsADirectoryError:
        raise FileAccessError(f"{path}: is a directory") from None
    except OSError as exc:
        raise FileAccessError(f"cannot read {path}: {exc.strerror or exc}") from None
    except ValueError:  # a NUL byte in the path
        raise FileAccessError(f"cannot read {path!r}: invalid path") from None
    return h.hexdigest()


# Worker state: set in the parent before forking (or by the initializer).
_OBJECTS: tuple[ObjectInput, ...] = ()
_ROOT_NAMES: set[str] = set()   # candidate names looked up while indexing kernels
_OPTIONS = Options()
_CACHE = Cache(None)


def _init_worker(objects: tuple[tuple[str, bytes], ...] | None, options: Options, cache_root: str | None) -> None:
    global _OBJECTS, _OPTIONS, _CACHE, _ROOT_NAMES
    if objects is not None:  # not forked: parse again from bytes
        _OBJECTS = tuple(ObjectInput(p, hashlib.sha256(d).hexdigest(), BpfObject(d, source=p), d) for p, d in objects)
        _ROOT_NAMES = _root_names(_OBJECTS)
    _OPTIONS = options
    _CACHE = Cache(cache_root)


def _root_names(objects: Sequence[ObjectInput]) -> set[str]:
    return set().union(*(root_names(o.obj.btf, o.obj.relocations) for o in objects))


def _result_key(kernel_digest: str) -> str:
    return digest("result", _OPTIONS.cache_key(), kernel_digest, [o.digest for o in _OBJECTS])


def _analysis_key(kernel_digest: str, obj_digest: str) -> str:
    return digest("analysis", _OPTIONS.cache_key(), kernel_digest, obj_digest)


def _cached_result(kernel: KernelInput, kernel_digest: str) -> KernelResult | None:
    entry = _CACHE.get("result", _result_key(kernel_digest))
    if entry is None:
        return None
    try:
        blob = blob_from_plain(entry["blob"])
        sums = tuple(summaries_from_plain(s) for s in entry["summaries"])
        if len(sums) != len(_OBJECTS):
            return None
        return KernelResult(kernel, kernel_digest, blob, sums, int(entry["level"]), cached=True)
    except (KeyError, TypeError, ValueError):
        return None


def _process(kernel: KernelInput, kernel_digest: str) -> KernelResult:
    start = time.perf_counter()
    objects = [o.obj for o in _OBJECTS]
    target: Target | None = None
    analyzed = 0
    try:
        analyses: list[ObjectAnalysis] = []
        byte_order = None
        for o in _OBJECTS:
            key = _analysis_key(kernel_digest, o.digest)
            entry = _CACHE.get("analysis", key)
            if entry is not None:
                try:
                    a, byte_order = analysis_from_plain(entry)
                    analyses.append(a)
                    continue
                except (KeyError, TypeError, ValueError):
                    pass
            if target is None:
                target = Target(load_btf(kernel.path, prefetch=_ROOT_NAMES))
            a = analyze(o.obj, target, compat=_OPTIONS.compat)
            byte_order = target.kernel.byte_order
            _CACHE.put("analysis", key, analysis_to_plain(a, byte_order))
            analyses.append(a)
            analyzed += 1
        if target is None and byte_order is None:  # no objects at all
            target = Target(load_btf(kernel.path))
        order = "little" if _OPTIONS.compat else (target.kernel.byte_order if target else byte_order)
        try:
            emitted, level = assemble(objects, analyses, [1], compat=_OPTIONS.compat, byte_order=order,
                                      hdr_len=_OPTIONS.header_size)
            blob = emitted.data
        except NeedsKernel:
            if target is None:
                target = Target(load_btf(kernel.path))
            m = minimize(objects, target, compat=_OPTIONS.compat, byte_order=order,
                         hdr_len=_OPTIONS.header_size, analyses=analyses)
            blob, level = m.data, m.level
    except BTFEmbedError as exc:
        return KernelResult(kernel, kernel_digest, None, (), 0, error=str(exc), loaded=target is not None,
                            analyzed=analyzed, seconds=time.perf_counter() - start)
    sums = tuple(a.summaries for a in analyses)
    _CACHE.put("result", _result_key(kernel_digest), {
        "blob": blob_to_plain(blob), "level": level, "summaries": [summaries_to_plain(s) for s in sums]})
    return KernelResult(kernel, kernel_digest, blob, sums, level, loaded=target is not None, analyzed=analyzed,
                        seconds=time.perf_counter() - start)


def _process_args(args: tuple[KernelInput, str]) -> KernelResult:
    return _process(*args)


def default_jobs() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover
        return os.cpu_count() or 1


def run_build(objects: tuple[ObjectInput, ...], kernels: Sequence[KernelInput], *, options: Options,
              cache: Cache, jobs: int = 0,
              progress: Callable[[KernelResult, int, int], None] | None = None) -> BuildResult:
    """Minimize every kernel for ``objects``; see the module documentation."""
    global _OBJECTS, _OPTIONS, _CACHE, _ROOT_NAMES
    _OBJECTS, _OPTIONS, _CACHE, _ROOT_NAMES = objects, options, cache, _root_names(objects)
    jobs = jobs or default_jobs()
    results: dict[int, KernelResult] = {}
    todo: list[tuple[int, KernelInput, str]] = []
    total = len(kernels)
    for i, k in enumerate(kernels):
        d = _file_digest(k.path)
        hit = _cached_result(k, d)
        if hit is not None:
            results[i] = hit
            if progress:
                progress(hit, len(results), total)
        else:
            todo.append((i, k, d))
    if todo and (jobs == 1 or len(todo) == 1):
        for i, k, d in todo:
            results[i] = r = _process(k, d)
            if progress:
                progress(r, len(results), total)
    elif todo:
        forked = "fork" in multiprocessing.get_all_start_methods()
        ctx = multiprocessing.get_context("fork" if forked else None)
        init_objects = None if forked else tuple((o.path, o.data) for o in objects)
        with futures.ProcessPoolExecutor(max_workers=min(jobs, len(todo)), mp_context=ctx,
                                         initializer=_init_worker,
                                         initargs=(init_objects, options, cache.root)) as pool:
            pending = {pool.submit(_process_args, (k, d)): i for i, k, d in todo}
            try:
                for fut in futures.as_completed(pending):
                    i = pending[fut]
                    results[i] = r = fut.result()
                    if progress:
                        progress(r, len(results), total)
            except BaseException:
                for fut in pending:
                    fut.cancel()
                raise
    return BuildResult(objects, tuple(results[i] for i in range(total)))
