"""Shards: one build split over several machines (a CI matrix), then merged.

``btfembed build --shard K/N`` builds a deterministic 1/N of the kernel
list (after filters) and writes one *partial* file instead of the outputs;
``btfembed merge PARTIAL...`` checks that the partials are the N shards of
one build and writes the outputs from their per-kernel results with the
normal output writer, so they are byte-identical to an unsharded build.

Which shard a kernel belongs to: ``sha256(str(key)) mod N`` (``K`` counts
from 1).  It depends on the kernel's key only, so adding kernels to the
list does not move the others between shards (each shard's cache stays
warm); the split is even for large lists (BTFHub's thousands).

Partial file (``shard-K-of-N.btfembed-partial``): gzip-compressed JSON
(no timestamp, keys sorted: the same shard gives the same bytes)::

    {"partial": {
       "format": "btfembed-partial", "version": 1, "btfembed": VERSION,
       "shard": [K, N],
       "kernel_list": {"count": KERNELS, "sha256": HEX},  # the whole list
       "options": {"compat": BOOL, "header_size": 24|32},
       "objects": [{"path": P, "sha256": HEX, "data": BASE64}, ...],
       "kernels": [{"key": [ARCH, DISTRO, VERSION, RELEASE], "path": P,
                    "origin": O, "digest": HEX, "blob": BASE64|null,
                    "level": N, "error": TEXT|null, "cached": BOOL,
                    "loaded": BOOL, "decoded": BOOL, "analyzed": N,
                    "resolved": N, "checked": N,
                    "summaries": [[SUMMARY...] per object]}, ...]},
     "sha256": HEX}   # of the canonical JSON of "partial"

The objects travel inside the partial, so ``merge`` needs nothing but the
partial files.  ``merge`` refuses partials that are damaged (digest),
from another btfembed version, other options, objects or kernel list,
duplicated or missing shards.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import re
import zlib
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple, Sequence

from btfembed import __version__
from btfembed.build.cache import summaries_from_plain, summaries_to_plain
from btfembed.build.kernels import KernelInput
from btfembed.build.pipeline import BuildResult, KernelResult, ObjectInput, Options
from btfembed.core.results import Summary
from btfembed.embed.keys import KernelKey
from btfembed.errors import BTFEmbedError, ConfigError
from btfembed.inputs.files import atomic_write, ensure_dir, read_bytes
from btfembed.inputs.objects import BpfObject

if TYPE_CHECKING:
    from btfembed.build.settings import Settings

__all__ = ["ShardInfo", "PartialError", "parse_shard", "select_shard", "partial_name", "encode_partial",
           "write_partial", "decode_partial", "merge_partials", "shard_of"]

FORMAT = "btfembed-partial"
VERSION = 1
_SHARD = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


class PartialError(BTFEmbedError):
    """A partial file that cannot be merged (damaged, mismatched, missing shards)."""
    exit_code = 3


@dataclass(frozen=True)
class ShardInfo:
    index: int          # K, from 1
    count: int          # N
    total: int          # kernels in the whole (filtered) list
    list_digest: str    # SHA-256 of the whole list (keys and paths)


def parse_shard(text: str) -> tuple[int, int]:
    m = _SHARD.match(text)
    if not m or not 1 <= int(m.group(1)) <= int(m.group(2)):
        raise ConfigError(f"shard must be K/N with 1 <= K <= N (e.g. 2/8), not {text!r}")
    return int(m.group(1)), int(m.group(2))


def shard_of(key: KernelKey, count: int) -> int:
    """The shard (from 1) that builds kernel ``key`` out of ``count``."""
    return int.from_bytes(hashlib.sha256(str(key).encode("utf-8", "surrogateescape")).digest()[:8], "big") % count + 1


def _list_digest(kernels: Sequence[KernelInput]) -> str:
    h = hashlib.sha256()
    for k in kernels:
        h.update(json.dumps([list(k.key), k.path]).encode("utf-8", "surrogateescape") + b"\n")
    return h.hexdigest()


def select_shard(kernels: Sequence[KernelInput], index: int, count: int) -> tuple[list[KernelInput], ShardInfo]:
    """The kernels of shard ``index`` of ``count`` (order kept)."""
    chosen = [k for k in kernels if shard_of(k.key, count) == index]
    return chosen, ShardInfo(index, count, len(kernels), _list_digest(kernels))


def partial_name(index: int, count: int) -> str:
    return f"shard-{index}-of-{count}.btfembed-partial"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(text: str) -> bytes:
    return base64.b64decode(text.encode(), validate=True)


def _canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8",
                                                                                              "surrogateescape")


def encode_partial(result: BuildResult, info: ShardInfo, options: Options) -> bytes:
    kernels = []
    for k in result.kernels:
        kernels.append({
            "key": list(k.kernel.key), "path": k.kernel.path, "origin": k.kernel.origin, "digest": k.digest,
            "blob": None if k.blob is None else _b64(k.blob), "level": k.level, "error": k.error,
            "cached": k.cached, "loaded": k.loaded, "decoded": k.decoded, "analyzed": k.analyzed,
            "resolved": k.resolved, "checked": k.checked,
            "summaries": [summaries_to_plain(s) for s in k.summaries],
        })
    partial = {
        "format": FORMAT, "version": VERSION, "btfembed": __version__,
        "shard": [info.index, info.count],
        "kernel_list": {"count": info.total, "sha256": info.list_digest},
        "options": {"compat": options.compat, "header_size": options.header_size},
        "objects": [{"path": o.path, "sha256": o.digest, "data": _b64(o.data)} for o in result.objects],
        "kernels": kernels,
    }
    body = _canonical(partial)
    doc = b'{"partial":' + body + b',"sha256":"' + hashlib.sha256(body).hexdigest().encode() + b'"}\n'
    return gzip.compress(doc, compresslevel=6, mtime=0)


def write_partial(result: BuildResult, settings: "Settings") -> str:
    """Write the partial file of a shard build into ``settings.out_dir``
    (atomically); its path.  Raises ``BuildFailed`` when a kernel failed
    without ``keep_going``, as ``write_outputs`` does."""
    from btfembed.build.outputs import check_complete

    info = result.shard
    if info is None:
        raise ConfigError("not a shard build (no --shard)")
    check_complete(result, settings)
    ensure_dir(settings.out_dir)
    path = os.path.join(settings.out_dir, partial_name(info.index, info.count))
    atomic_write(path, encode_partial(result, info, Options(settings.compat, settings.header_size)))
    return path


class Partial(NamedTuple):
    path: str
    info: ShardInfo
    options: Options
    objects: tuple[tuple[str, str, bytes], ...]   # (path, sha256, bytes)
    kernels: tuple[KernelResult, ...]


def decode_partial(data: bytes, path: str) -> Partial:
    try:
        doc = json.loads(gzip.decompress(data))
        p = doc["partial"]
        if hashlib.sha256(_canonical(p)).hexdigest() != doc["sha256"]:
            raise PartialError(f"{path}: damaged partial (digest mismatch)")
        if p.get("format") != FORMAT:
            raise PartialError(f"{path}: not a btfembed partial file")
        if p["version"] != VERSION or p["btfembed"] != __version__:
            raise PartialError(f"{path}: written by btfembed {p['btfembed']} (partial format {p['version']}); "
                               f"this is btfembed {__version__}: rebuild the shard")
        index, count = p["shard"]
        info = ShardInfo(int(index), int(count), int(p["kernel_list"]["count"]), str(p["kernel_list"]["sha256"]))
        options = Options(bool(p["options"]["compat"]), int(p["options"]["header_size"]))
        objects = []
        for o in p["objects"]:
            raw = _unb64(o["data"])
            if hashlib.sha256(raw).hexdigest() != o["sha256"]:
                raise PartialError(f"{path}: object {o['path']!r} does not match its digest")
            objects.append((str(o["path"]), str(o["sha256"]), raw))
        kernels = []
        seen: dict[Summary, Summary] = {}   # equal summaries of different kernels shared
        for k in p["kernels"]:
            kernel = KernelInput(KernelKey(*map(str, k["key"])), str(k["path"]), str(k["origin"]))
            kernels.append(KernelResult(
                kernel, str(k["digest"]), None if k["blob"] is None else _unb64(k["blob"]),
                tuple(summaries_from_plain(s, seen) for s in k["summaries"]), int(k["level"]),
                error=k["error"], cached=bool(k["cached"]), loaded=bool(k["loaded"]),
                analyzed=int(k["analyzed"]), decoded=bool(k["decoded"]), resolved=int(k.get("resolved", 0)),
                checked=int(k.get("checked", 0))))
    except PartialError:
        raise
    except (OSError, EOFError, zlib.error, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise PartialError(f"{path}: not a readable btfembed partial file ({exc.__class__.__name__})") from None
    return Partial(path, info, options, tuple(objects), tuple(kernels))


def merge_partials(paths: Sequence[str]) -> tuple[BuildResult, Options]:
    """The build result of the N shards in ``paths`` (every shard exactly
    once), as one unsharded build would have returned it."""
    if not paths:
        raise ConfigError("no partial files to merge")
    parts = [decode_partial(read_bytes(p), p) for p in paths]
    first = parts[0]
    for p in parts[1:]:
        for what, a, b in (("shard count", first.info.count, p.info.count),
                           ("kernel list", first.info.list_digest, p.info.list_digest),
                           ("options", first.options, p.options),
                           ("objects", [o[:2] for o in first.objects], [o[:2] for o in p.objects])):
            if a != b:
                raise PartialError(f"{p.path} and {first.path} are not shards of the same build (different {what})")
    seen: dict[int, str] = {}
    for p in parts:
        if p.info.index in seen:
            raise PartialError(f"shard {p.info.index}/{p.info.count} given twice: {seen[p.info.index]} and {p.path}")
        seen[p.info.index] = p.path
    missing = sorted(set(range(1, first.info.count + 1)) - set(seen))
    if missing:
        raise PartialError(f"missing shard(s) {', '.join(f'{i}/{first.info.count}' for i in missing)}")
    kernels = sorted((k for p in parts for k in p.kernels), key=lambda k: k.kernel.key)
    if len(kernels) != first.info.total or len({k.kernel.key for k in kernels}) != len(kernels):
        raise PartialError(f"the shards hold {len(kernels)} kernel(s), the kernel list {first.info.total}")
    objects = tuple(ObjectInput(path, digest, BpfObject(data, source=path), data)
                    for path, digest, data in first.objects)
    for k in kernels:
        if k.error is None and len(k.summaries) != len(objects):
            raise PartialError(f"kernel {k.kernel.key}: results for {len(k.summaries)} object(s), expected "
                               f"{len(objects)}")
    return BuildResult(objects, tuple(kernels)), first.options
