"""Writing a build's outputs: per-kernel BTF files, the pack, reports and
generated sources.

``write_outputs(result, settings)`` writes, in this order (the out-dir as
one unit, see ``btfembed.build.outdir``; other files each atomically):

* ``<out_dir>/<distro>/<version>/<arch>/<release>.btf`` for every kernel that
  succeeded (the BTFHub layout);
* ``<out_dir>/btfembed.pack`` (every key mapped to a deduplicated blob);
* ``settings.report`` (JSON) and ``settings.html`` (the kernel x program
  matrix), when set;
* with ``settings.emit``: the generated sources (``settings.output``, by
  default inside ``out_dir``: see ``Settings.emit_output``), then
  ``settings.depfile`` -- written first, so that a generation that fails
  leaves nothing behind.

Nothing is written when a kernel failed, unless ``settings.keep_going``.
An out-dir that already holds exactly the files a build would write is
left as it is (its files' times refreshed).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Callable

from btfembed.build.outdir import OutDir
from btfembed.errors import BuildFailed
from btfembed.inputs.files import atomic_write, ensure_dir

if TYPE_CHECKING:
    from btfembed.build.cache import Cache
    from btfembed.build.pipeline import BuildResult
    from btfembed.build.settings import Settings
    from btfembed.embed.pack import Pack

__all__ = ["write_outputs", "check_complete"]


def check_complete(result: "BuildResult", settings: "Settings") -> None:
    """Raise ``BuildFailed`` if a kernel failed and ``settings.keep_going``
    is not set."""
    failed = result.failed
    if failed and not settings.keep_going:
        first = failed[0]
        raise BuildFailed(f"{len(failed)} of {len(result.kernels)} kernel(s) failed, nothing written; "
                          f"first: {first.kernel.key} ({first.kernel.path}): {first.error}")


def write_outputs(result: "BuildResult", settings: "Settings",
                  warn: "Callable[[str], None] | None" = None) -> list[str]:
    """Write the outputs of ``result`` as ``settings`` asks (see the module
    documentation); returns the paths written, in writing order.  ``warn``
    receives a line about a damaged cache entry met (it is recomputed)."""
    from btfembed.build.report import dump_json, to_html, to_json
    from btfembed.embed.pack import build_pack, object_digest

    check_complete(result, settings)
    s = settings
    paths = {}
    tree: list[tuple[str, bytes]] = []      # files of the out-dir, relative to it
    for k in result.ok:
        assert k.blob is not None
        rel = k.kernel.key.path()
        paths[k.kernel.key] = rel
        tree.append((rel, k.blob))
    pack = build_pack([(k.kernel.key, k.blob) for k in result.ok if k.blob is not None],
                      [(os.path.basename(o.path), object_digest(o.data)) for o in result.objects])
    tree.append(("btfembed.pack", _encoded(pack, s, warn)))
    files: list[tuple[str, bytes]] = []
    if s.report:
        files.append((s.report, dump_json(to_json(result, paths)).encode()))
    if s.html:
        files.append((s.html, to_html(result).encode()))
    # The out-dir is replaced as a unit: generated sources and reports that
    # lie inside it are written into the new tree; the rest atomically.
    # Generated sources first: when generating fails (a bad prefix, a key a
    # runtime cannot represent), nothing else has been written.
    written_tree: list[str] = []
    with OutDir(s.out_dir) as out:
        written = _emit_into(out, s, pack, result) if s.emit else []
        for path, data in list(files):
            inside = out.contains(path)
            if inside is not None:
                tree.append((inside, data))
                files.remove((path, data))
        assert out.new is not None
        if not os.listdir(out.new) and out.keep_if_same(tree):  # nothing generated into it, nothing changed
            written_tree = [os.path.join(out.given, rel) for rel, _data in tree]
        else:
            for rel, data in tree:
                written_tree.append(out.write(rel, data))
            out.commit()
    for path, data in files:
        ensure_dir(os.path.dirname(os.path.abspath(path)))
        atomic_write(path, data)
    return written_tree + [path for path, _ in files] + written


def _encoded(pack: "Pack", s: "Settings", warn: "Callable[[str], None] | None") -> bytes:
    """``encode_pack(pack)`` for the settings' codec, remembered in the
    build cache (a ``pack`` entry keyed by the pack's content: a rebuild
    that changed nothing does not compress it again)."""
    import hashlib

    from btfembed import __version__
    from btfembed.build.cache import Cache, blob_from_plain, blob_to_plain, default_cache_dir, digest
    from btfembed.embed.pack import encode_pack

    codec = s.pack_codec()
    cache = Cache((s.cache_dir or default_cache_dir()) if s.cache else None)
    key = digest("pack", __version__, codec, [[list(k), i] for k, i in pack.kernels],
                 [hashlib.sha256(b).hexdigest() for b in pack.blobs], [[n, d.hex()] for n, d in pack.objects])
    hit = cache.get("pack", key, None, blob_from_plain)
    if isinstance(hit, bytes):
        return hit
    data = encode_pack(pack, codec=codec, blocks_memo=_CachedBlocks(cache))
    if cache.damaged and warn is not None:
        warn(f"damaged cache entry ignored, recomputed and rewritten: {cache.damaged[0]}")
    cache.put("pack", key, blob_to_plain(data))
    return data


def _block_from_plain(value: object) -> "tuple[bytes, int]":
    from btfembed.build.cache import blob_from_plain

    if not (isinstance(value, dict) and isinstance(value.get("data"), str) and isinstance(value.get("raw"), int)):
        raise ValueError("not a pack block")
    return blob_from_plain(value["data"]), value["raw"]


class _CachedBlocks:
    """``embed.pack.BlockMemo`` over the build cache (``pack-block``
    entries): a rebuild whose blobs did not change (an object recompiled
    with the same relocations) compresses no block again."""

    def __init__(self, cache: "Cache"):
        self.cache = cache

    def get(self, key: str) -> "tuple[bytes, int] | None":
        hit: tuple[bytes, int] | None = self.cache.get("pack-block", key, None, _block_from_plain)
        return hit

    def put(self, key: str, data: bytes, raw_len: int) -> None:
        from btfembed.build.cache import blob_to_plain

        self.cache.put("pack-block", key, {"data": blob_to_plain(data), "raw": raw_len})


def _emit_into(out: OutDir, s: "Settings", pack: "Pack", result: "BuildResult") -> list[str]:
    """Generate the sources; those inside the out-dir into its new tree
    (their paths, and the depfile's text, name where they will be)."""
    output = s.emit_output()
    assert output is not None
    rel = out.contains(output)
    dep_rel = out.contains(s.depfile) if s.depfile else None
    gen_output = out.path(rel) if rel is not None else output
    gen_depfile = out.path(dep_rel) if dep_rel is not None else s.depfile
    for p in (gen_output, gen_depfile):
        if p is not None and (rel is not None or dep_rel is not None):
            ensure_dir(os.path.dirname(os.path.abspath(p)))
    paths = _emit(s, pack, result, gen_output, gen_depfile)
    new = out.new or ""
    if rel is not None and gen_depfile is not None and os.path.exists(gen_depfile):
        with open(gen_depfile, "rb") as f:
            text = f.read()
        fixed = text.replace(os.fsencode(new), os.fsencode(out.target))
        if fixed != text:
            atomic_write(gen_depfile, fixed)
    return [out.target + p[len(new):] if new and p.startswith(new + os.sep) else p for p in paths]


def _emit(s: "Settings", pack: "Pack", result: "BuildResult", output: str, depfile: str | None) -> list[str]:
    from btfembed.embed.generate import generate

    assert s.emit is not None
    # Everything that can change the output: objects, kernel files, the
    # source directories (new kernels change their mtime), settings.
    deps = [o.path for o in result.objects] + [k.kernel.path for k in result.kernels]
    deps += [k.path for k in s.kernels if os.path.isdir(k.path)]
    if s.source:
        deps.append(s.source)
    app_ids: list[str] = []
    if s.userspace and s.emit in ("c", "python"):
        from btfembed.inputs.userspace import app_id, split_app

        app_ids = [app_id(u) for u in s.userspace]
        deps += [split_app(u)[0] for u in s.userspace]
    return generate(pack, output, lang=s.emit, prefix=s.prefix, codec=s.codec or ("zlib" if s.compress else None),
                    depfile=depfile, deps=sorted(set(deps)), go_package=s.go_package,
                    go_import_path=s.go_import_path, app_ids=app_ids)
