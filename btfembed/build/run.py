"""``build(settings)``: the whole build, from settings to a ``BuildResult``.

Objects are expanded (glob patterns, ``**`` spans directories), read and
parsed; kernel sources are discovered and filtered; then every kernel is
minimized (cached, in parallel; see ``btfembed.build.pipeline``).  Nothing
is written: ``btfembed.build.outputs.write_outputs`` does that.
"""

from __future__ import annotations

import glob
from typing import Callable

from btfembed.build.pipeline import BuildResult, KernelResult, Options, load_object_inputs, run_build
from btfembed.build.settings import Settings
from btfembed.errors import ConfigError

__all__ = ["build", "expand_objects", "Progress"]

#: Called after each kernel: (its result, kernels done, kernels in all).
Progress = Callable[[KernelResult, int, int], None]


def expand_objects(patterns: list[str]) -> list[str]:
    """Object paths from paths and glob patterns (sorted per pattern)."""
    out: list[str] = []
    for pat in patterns:
        matches = sorted(glob.glob(pat, recursive=True)) if glob.has_magic(pat) else [pat]
        if not matches:
            raise ConfigError(f"no object matches {pat!r}")
        out += matches
    return out


def load_userspace(paths: list[str]) -> tuple[tuple[str, bytes], ...]:
    """(path, raw BTF) of each application (``settings.userspace``): read,
    or converted from DWARF with pahole, once per build."""
    from btfembed.inputs.userspace import app_btf, split_app

    return tuple((p, app_btf(p).raw) for p in (split_app(spec)[0] for spec in paths))


def build(settings: Settings, *, progress: Progress | None = None,
          warn: Callable[[str], None] | None = None, shard: tuple[int, int] | None = None) -> BuildResult:
    """Minimize kernel BTF for ``settings.objects`` on every kernel of
    ``settings.kernels`` (after the arch/distro/release filters).

    Kernels that fail are in ``result.failed`` (with their error); they do
    not raise.  ``warn`` receives warnings (objects without ``.BTF.ext``,
    damaged cache entries);
    ``progress`` is called after each kernel.  Raises ``ConfigError`` for
    settings that cannot build anything.

    ``shard=(K, N)``: only the kernels of shard K of N
    (``btfembed.build.shards``); the result's ``shard`` describes it, and
    ``shards.encode_partial`` turns it into a partial file.
    """
    from btfembed.build.cache import Cache, default_cache_dir
    from btfembed.build.kernels import apply_filters, discover
    from btfembed.build.store import parse_size

    s = settings
    s.validate()
    if not s.objects:
        raise ConfigError("no BPF objects: give them as arguments (btfembed build prog.bpf.o --kernels sysfs) "
                          "or set 'objects' in btfembed.toml")
    if not s.kernels:
        raise ConfigError("no kernels: give --kernels SRC or set 'kernels' in btfembed.toml")
    objects = load_object_inputs(expand_objects(s.objects))
    if warn is not None:
        for o in objects:
            if not o.obj.has_ext:
                warn(f"{o.path}: no .BTF.ext section, so no CO-RE relocations")
    kernels = apply_filters(discover(s.kernels), arch=s.arch, distro=s.distro, release=s.release)
    if not kernels:
        raise ConfigError("the kernel list is empty (after filters)")
    info = None
    if shard is not None:
        from btfembed.build.shards import select_shard
        kernels, info = select_shard(kernels, *shard)
    cache = Cache((s.cache_dir or default_cache_dir()) if s.cache else None)
    userspace = load_userspace(s.userspace)
    result = run_build(objects, kernels, options=Options(s.compat, s.header_size, s.loader, userspace,
                                                         s.userspace_collisions), cache=cache,
                       jobs=s.jobs, progress=progress, store_max=parse_size(s.kernel_store_max),
                       executor=s.executor)
    if any(not k.cached for k in result.kernels):
        cache.evict(parse_size(s.cache_max))   # what this build wrote is the newest
    if info is not None:
        result = result._replace(shard=info)
    if warn is not None:
        for k in result.ok:
            for note in k.notes:
                warn(f"{k.kernel.key}: {note}")
    if warn is not None and result.damaged:
        n = len(result.damaged)
        warn(f"{n} damaged cache entr{'y' if n == 1 else 'ies'} ignored, recomputed and rewritten "
             f"(first: {result.damaged[0]})")
    return result
