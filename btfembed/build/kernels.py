"""Kernel sources for ``btfembed build``: finding kernel BTF files and their keys.

A source is one of:

* ``sysfs`` (or ``/sys/kernel/btf/vmlinux``): the running kernel, keyed from
  ``uname`` and ``/etc/os-release``;
* a **manifest** file, ``*.tsv`` (a header row naming the columns ``path``
  (or ``file``), ``release``, ``arch``, ``distro``, ``distro_version``; other
  columns are ignored) or ``*.toml`` (``[[kernel]]`` tables with the same
  keys); paths are relative to the manifest;
* a **directory**: with a ``MANIFEST.tsv`` or ``manifest.toml`` inside, that
  manifest; otherwise every BTF file below it (``*.btf``, ``*.btf.xz``,
  ``*.btf.gz``, ``*.btf.tar.xz``, ...).  Files at
  ``<distro>/<version>/<arch>/<release>.btf[.tar.xz]`` (the BTFHub archive
  layout) take their key from the path; others only their release (the file
  name without its extensions), and the arch when the release names it
  (``...x86_64``, ``-amd64``, ``.aarch64``, ``-arm64``);
* a **file**, optionally with its key: ``FILE=DISTRO/VERSION/ARCH/RELEASE``.

Debug kernels count as kernel files too (converted with pahole, see
``btfembed.inputs.debuginfo``): a DWARF ``vmlinux`` without ``.BTF`` and
``.deb``/``.ddeb``/``.rpm`` debug packages holding one.  Their release and
arch come from the package metadata (``linux-image-RELEASE-dbg``,
``kernel-debuginfo`` VERSION-RELEASE.ARCH) or the vmlinux's
``linux_banner``, unless the key is given.

Kernel modules: a kernel may come with module BTF (split BTF on top of
it), searched by ``build`` for the types its vmlinux lacks, as libbpf
does; the module types used go into that kernel's one flat blob.  Module
files (``*.btf``, ``*.btf.xz``, ... or ``.ko``) are found for a kernel file
``DIR/STEM.btf[.xz...]``:

* ``DIR/STEM__MODULE.btf[.xz]`` and ``DIR/modules/STEM__MODULE.btf[.xz]``;
* ``DIR/STEM/MODULE.btf[.xz]`` and ``DIR/modules/STEM/MODULE.btf[.xz]``
  (BTFHub trees: ``<arch>/<release>/<module>.btf.xz`` beside
  ``<arch>/<release>.btf.tar.xz``);
* a manifest's ``modules`` column (paths relative to the manifest,
  separated by spaces or commas; in TOML a list) or a kernels entry's
  ``modules`` list in the settings: these replace the files found;
* ``sysfs``: every ``/sys/kernel/btf/*`` besides ``vmlinux``.

Those files and folders are not kernels themselves when a directory is
walked.

Architectures are normalized (``aarch64`` -> ``arm64``).  Two sources giving
the same key is an error unless they name the same file.
"""

from __future__ import annotations

import fnmatch
import io
import os
import re
from typing import NamedTuple, Sequence

from btfembed.errors import ConfigError
from btfembed.inputs.files import MAX_ATOMIC_NAME, NAME_MAX, read_bytes
from btfembed.inputs.toml import InvalidTOML, parse_toml
from btfembed.embed.keys import KernelKey, normalize_arch, running_key
from btfembed.build.settings import KernelSpec
from btfembed.inputs.containers import SYS_VMLINUX

__all__ = ["KernelInput", "discover", "parse_source_arg", "apply_filters", "release_from_filename",
           "MAX_RELEASE_BYTES"]

# Outputs are written as <release>.btf through atomic temporaries, so a
# release can be only as long as those names allow; the other key parts are
# plain directory names.
MAX_RELEASE_BYTES = MAX_ATOMIC_NAME - len(".btf")

_BTF_SUFFIXES = (".btf.tar.xz", ".btf.tar.gz", ".btf.tar.bz2", ".btf.xz", ".btf.gz", ".btf.bz2", ".btf", ".tar.xz")
_MANIFEST_NAMES = ("MANIFEST.tsv", "manifest.tsv", "manifest.toml", "MANIFEST.toml")
_ARCH_IN_RELEASE = re.compile(r"[._-](x86_64|amd64|aarch64|arm64)(?:$|[._+-])")
_COLUMNS = {
    "path": ("path", "file", "file.xz", "filename"),
    "release": ("release", "kernel release", "kernel_release", "uname -r"),
    "arch": ("arch", "architecture", "machine"),
    "distro": ("distro", "id", "os"),
    "distro_version": ("distro_version", "distro version", "version", "version_id"),
    "modules": ("modules", "module", "modules btf"),
}
_MODULE_SUFFIXES = _BTF_SUFFIXES + (".ko", ".ko.xz", ".ko.gz")
SYS_BTF_DIR = os.path.dirname(SYS_VMLINUX)


class KernelInput(NamedTuple):
    key: KernelKey
    path: str       # what to read (any format sources.unwrap accepts)
    origin: str     # where the entry came from, for messages
    modules: tuple[str, ...] = ()   # module BTF files (split on top of this kernel), sorted


def release_from_filename(name: str) -> str:
    for suffix in _BTF_SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[:-len(suffix)]
    return name


def _arch_from_release(release: str) -> str:
    m = _ARCH_IN_RELEASE.search(release)
    return normalize_arch(m.group(1)) if m else ""


# Directory listings during one discover() call: directory -> (module file
# names by the kernel stem before their last "__", all names).
_LISTINGS: dict[str, tuple[dict[str, list[str]], list[str]]] | None = None


def _listing(directory: str) -> tuple[dict[str, list[str]], list[str]]:
    cached = _LISTINGS.get(directory) if _LISTINGS is not None else None
    if cached is None:
        try:
            names = sorted(os.listdir(directory))
        except OSError:
            names = []
        by_stem: dict[str, list[str]] = {}
        for n in names:
            if "__" in n and n.endswith(_MODULE_SUFFIXES):
                by_stem.setdefault(n.rpartition("__")[0], []).append(n)
        cached = (by_stem, names)
        if _LISTINGS is not None:
            _LISTINGS[directory] = cached
    return cached


def _module_files(directory: str, stem: str | None = None) -> list[str]:
    """Module files in ``directory``: those named ``STEM__MODULE...``, or
    (``stem`` None) every module-like file."""
    by_stem, names = _listing(directory)
    chosen = by_stem.get(stem, []) if stem is not None else [n for n in names if n.endswith(_MODULE_SUFFIXES)]
    return [os.path.join(directory, n) for n in chosen if os.path.isfile(os.path.join(directory, n))]


def _neighbour_modules(path: str) -> tuple[str, ...]:
    """Module files laid out next to the kernel file ``path`` (see the module
    documentation)."""
    if not os.path.isfile(path):
        return ()
    directory, stem = os.path.dirname(path) or ".", release_from_filename(os.path.basename(path))
    found = _module_files(directory, stem) + _module_files(os.path.join(directory, "modules"), stem)
    for sub in (os.path.join(directory, stem), os.path.join(directory, "modules", stem)):
        if os.path.isdir(sub):
            found += _module_files(sub)
    return tuple(sorted(set(found)))


def sysfs_modules(directory: str | None = None) -> tuple[str, ...]:
    """The running kernel's module BTF files: ``/sys/kernel/btf/*`` but vmlinux."""
    directory = directory or SYS_BTF_DIR
    try:
        names = os.listdir(directory)
    except OSError:
        return ()
    return tuple(sorted(os.path.join(directory, n) for n in names if n != "vmlinux"))


def _spec_modules(spec: KernelSpec) -> tuple[str, ...]:
    if spec.modules is None:
        return _neighbour_modules(spec.path)
    for m in spec.modules:
        if not os.path.exists(m):
            raise ConfigError(f"module BTF {m!r} (for kernel {spec.path}) does not exist")
    return tuple(sorted(set(spec.modules)))


def _is_btf_file(name: str) -> bool:
    if name.endswith(_BTF_SUFFIXES) or name == "vmlinux" or name.startswith("vmlinux-"):
        return True
    from btfembed.inputs import debuginfo  # debug packages are rare: imported when met
    return debuginfo.is_package_name(name)


def _debug_key(path: str) -> tuple[str, str] | None:
    """(release, arch) of a debug kernel source, None for other files."""
    if os.path.basename(path).endswith(_BTF_SUFFIXES):
        return None
    from btfembed.inputs import debuginfo
    found = debuginfo.describe(path)
    if found is None:
        return None
    if not found.release:
        raise ConfigError(f"{path}: cannot tell the kernel release of this debug kernel "
                          "(give it as FILE=DISTRO/VERSION/ARCH/RELEASE)")
    return found.release, normalize_arch(found.arch)


def parse_source_arg(text: str) -> KernelSpec:
    """A ``--kernels`` argument: ``SRC`` or ``FILE=DISTRO/VERSION/ARCH/RELEASE``."""
    path, sep, key = text.rpartition("=")
    if sep and path and key.count("/") == 3 and not os.path.exists(text):
        distro, version, arch, release = key.split("/")
        if not release:
            raise ConfigError(f"kernel key {key!r} has an empty release")
        return KernelSpec(path, release=release, arch=arch, distro=distro, distro_version=version)
    return KernelSpec(text)


def _from_manifest(path: str) -> list[KernelInput]:
    base = os.path.dirname(os.path.abspath(path))
    text = read_bytes(path).decode("utf-8", "replace")
    rows: list[dict[str, str]] = []
    if path.endswith(".toml"):
        try:
            data = parse_toml(text)
        except InvalidTOML as exc:
            raise ConfigError(f"{path}: invalid TOML: {exc}") from None
        entries = data.get("kernel", data.get("kernels"))
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            raise ConfigError(f"{path}: expected [[kernel]] tables")
        for e in entries:
            unknown = sorted(set(e) - set(_COLUMNS))
            if unknown:
                raise ConfigError(f"{path}: unknown key(s) in a [[kernel]] table: {', '.join(unknown)}")
            if "modules" in e:
                mods = e["modules"]
                if not isinstance(mods, list) or not all(isinstance(m, str) for m in mods):
                    raise ConfigError(f"{path}: 'modules' in a [[kernel]] table must be a list of paths")
            rows.append({k: " ".join(v) if k == "modules" else str(v) for k, v in e.items()})
    else:
        import csv
        try:
            table = list(csv.reader(io.StringIO(text, newline=""), delimiter="\t"))
        except csv.Error as exc:
            raise ConfigError(f"{path}: invalid TSV manifest: {exc}") from None
        reader = iter(table)
        header = next(reader, None)
        if not header:
            raise ConfigError(f"{path}: empty manifest")
        cols: dict[str, int] = {}
        for i, name in enumerate(h.strip().lower() for h in header):
            for field, aliases in _COLUMNS.items():
                if name in aliases and field not in cols:
                    cols[field] = i
        if "path" not in cols or "release" not in cols:
            raise ConfigError(f"{path}: the header must name a path (or file) column and a release column")
        for n, cells in enumerate(reader, 2):
            if not cells or not any(c.strip() for c in cells):
                continue
            if len(cells) <= max(cols.values()):
                raise ConfigError(f"{path}:{n}: expected {max(cols.values()) + 1} columns, found {len(cells)}")
            rows.append({f: cells[i].strip() for f, i in cols.items()})
    out = []
    for row in rows:
        if not row.get("path") or not row.get("release"):
            raise ConfigError(f"{path}: every kernel needs a path and a release")
        if "\0" in row["path"]:
            raise ConfigError(f"{path}: kernel path {row['path']!r} contains a NUL byte")
        key = KernelKey(normalize_arch(row.get("arch", "")), row.get("distro", ""),
                        row.get("distro_version", ""), row["release"])
        kpath = os.path.normpath(os.path.join(base, row["path"]))
        if "modules" in row:
            mods = tuple(sorted({os.path.normpath(os.path.join(base, m))
                                 for m in re.split(r"[\s,]+", row["modules"]) if m}))
            out.append(KernelInput(key, kpath, path, mods))
        else:
            out.append(KernelInput(key, kpath, path, _neighbour_modules(kpath)))
    return out


_BTFHUB_ARCHES = ("x86_64", "arm64", "aarch64", "amd64")


def _from_directory(root: str) -> list[KernelInput]:
    for name in _MANIFEST_NAMES:
        cand = os.path.join(root, name)
        if os.path.isfile(cand):
            return _from_manifest(cand)
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        stems = {release_from_filename(n) for n in filenames if _is_btf_file(n)}
        # Module folders (modules/, <kernel stem>/) are not walked for kernels.
        dirnames[:] = sorted(d for d in dirnames if d != "modules" and d not in stems)
        for name in sorted(filenames):
            if not _is_btf_file(name) or ("__" in name and name.rpartition("__")[0] in stems):
                continue
            full = os.path.join(dirpath, name)
            parts = os.path.relpath(full, root).split(os.sep)
            release = release_from_filename(name)
            debug = _debug_key(full)
            if debug is not None:
                release = debug[0]
            if len(parts) < 4:
                # A part of a BTFHub tree (btfhub-archive/ubuntu): the key's
                # upper levels are the source directory's own path.
                whole = os.path.abspath(full).split(os.sep)
                if len(whole) >= 5 and whole[-2] in _BTFHUB_ARCHES:
                    parts = whole
            if len(parts) >= 4:
                distro, version, arch = parts[-4], parts[-3], parts[-2]
                key = KernelKey(normalize_arch(arch), distro, version, release)
            else:
                key = KernelKey(debug[1] if debug and debug[1] else _arch_from_release(release), "", "", release)
            out.append(KernelInput(key, full, root, _neighbour_modules(full)))
    if not out:
        raise ConfigError(f"{root}: no kernel BTF files found (expected *.btf, *.btf.xz, *.btf.tar.xz, ...)")
    return out


def _single(spec: KernelSpec) -> KernelInput:
    path = spec.path
    if path in ("sysfs", SYS_VMLINUX) and spec.release is None:
        if not os.path.exists(SYS_VMLINUX):
            raise ConfigError(f"sysfs: {SYS_VMLINUX} does not exist (this kernel has no BTF)")
        return KernelInput(running_key(), SYS_VMLINUX, "sysfs", sysfs_modules())
    if not os.path.exists(path):
        raise ConfigError(f"kernel source {path!r} does not exist")
    if spec.release is not None:
        key = KernelKey(normalize_arch(spec.arch or ""), spec.distro or "", spec.distro_version or "", spec.release)
        return KernelInput(key, path, path, _spec_modules(spec))
    release = release_from_filename(os.path.basename(path))
    debug = _debug_key(path) if os.path.isfile(path) else None
    if debug is not None:
        release = debug[0]
    parts = os.path.abspath(path).split(os.sep)
    if len(parts) >= 5 and parts[-2] in _BTFHUB_ARCHES:
        key = KernelKey(normalize_arch(parts[-2]), parts[-4], parts[-3], release)
    else:
        key = KernelKey(debug[1] if debug and debug[1] else _arch_from_release(release), "", "", release)
    return KernelInput(key, path, path, _spec_modules(spec))


def _check_key(k: KernelInput) -> None:
    """Key parts become output path components: refuse ones that are not
    plain names."""
    for part, what in ((k.key.release, "release"), (k.key.arch, "arch"), (k.key.distro, "distro"),
                       (k.key.distro_version, "distro version")):
        if (any(c in part for c in "/\\\0") or part in (".", "..") or any(ord(c) < 32 for c in part)
                or (what == "release" and not part)):
            raise ConfigError(f"{k.origin}: kernel {what} {part!r} is not a valid name")
        limit = MAX_RELEASE_BYTES if what == "release" else NAME_MAX
        size = len(part.encode("utf-8", "surrogateescape"))
        if size > limit:
            raise ConfigError(f"{k.origin}: kernel {what} {part[:40]!r}... is too long "
                              f"({size} bytes; at most {limit} fit the output file names)")


def discover(specs: Sequence[KernelSpec]) -> list[KernelInput]:
    """All kernels the sources name, sorted by key; duplicate keys refused."""
    global _LISTINGS
    _LISTINGS = {}
    try:
        return _discover(specs)
    finally:
        _LISTINGS = None


def _discover(specs: Sequence[KernelSpec]) -> list[KernelInput]:
    found: list[KernelInput] = []
    for spec in specs:
        path = spec.path
        if spec.release is None and os.path.isdir(path):
            found += _from_directory(path)
        elif spec.release is None and path.endswith((".tsv", ".toml")) and os.path.isfile(path):
            found += _from_manifest(path)
        else:
            found.append(_single(spec))
    by_key: dict[KernelKey, KernelInput] = {}
    for k in found:
        _check_key(k)
        prev = by_key.get(k.key)
        if prev is not None and os.path.realpath(prev.path) != os.path.realpath(k.path):
            raise ConfigError(f"kernel {k.key} is given twice: {prev.path} and {k.path}")
        by_key[k.key] = k
    return [by_key[k] for k in sorted(by_key)]


def apply_filters(kernels: Sequence[KernelInput], *, arch: Sequence[str] = (), distro: Sequence[str] = (),
                  release: Sequence[str] = ()) -> list[KernelInput]:
    archs = {normalize_arch(a) for a in arch}
    distros = set(distro)
    out = []
    for k in kernels:
        if archs and k.key.arch not in archs:
            continue
        if distros and k.key.distro not in distros:
            continue
        if release and not any(fnmatch.fnmatchcase(k.key.release, pat) for pat in release):
            continue
        out.append(k)
    return out
