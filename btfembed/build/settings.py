"""Build settings: ``btfembed.toml`` or the ``[tool.btfembed]`` table of a
``pyproject.toml``.

Every setting has a type, a default and a one-line description (the
``doc`` metadata below, shown by ``btfembed build --help-settings``).
Unknown keys and wrong types are errors.  Paths in a settings file are
relative to that file; command-line options override the file.

Example ``btfembed.toml``::

    objects = ["build/*.bpf.o"]
    kernels = ["btfhub-archive/ubuntu", "sysfs"]
    out_dir = "build/btf"
    release = ["5.4.*", "5.15.*"]
    emit = "c"
    output = "build/gen/min_btf"

A kernel entry is a string (a directory, a manifest, a file, or ``sysfs``)
or a table with an explicit key::

    [[kernels]]
    path = "vmlinux-5.10.btf"
    release = "5.10.0-26-amd64"
    arch = "x86_64"
    distro = "debian"
    distro_version = "11"
    modules = ["modules/nf_conntrack.btf"]   # module BTF (default: found next to it)
"""

from __future__ import annotations

import dataclasses
import functools
import os
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Mapping

from btfembed.errors import ConfigError
from btfembed.inputs.files import read_bytes
from btfembed.inputs.toml import InvalidTOML, parse_toml

__all__ = ["Settings", "KernelSpec", "load_settings", "merge_settings", "find_settings_file", "settings_help",
           "settings_schema"]

FAIL_ON = ("never", "ambiguous", "poisoned")
EMIT = ("c", "python", "go", "rust")
CODECS = ("zlib", "xz", "zstd", "none")
COLLISIONS = ("warn", "error", "ignore")
# emit without output: these names inside out_dir (Settings.emit_output).
DEFAULT_OUTPUTS = {"c": "kernel_btf", "python": "kernel_btf.py", "go": "kbtf", "rust": "kernel_btf.rs"}


def _doc(text: str, **kw: Any) -> Any:
    return field(metadata={"doc": text}, **kw)


@dataclass(frozen=True)
class KernelSpec:
    """One kernel source.  ``path`` alone is auto-detected (see
    ``btfembed.build.kernels``); the key fields give a single file its key."""

    path: str
    release: str | None = None
    arch: str | None = None
    distro: str | None = None
    distro_version: str | None = None
    # Module BTF files for this kernel (None: those laid out next to it).
    modules: list[str] | None = None


@dataclass(frozen=True)
class Settings:
    objects: list[str] = _doc(
        "BPF objects (paths or glob patterns; ** spans directories) whose CO-RE relocations the BTF must serve",
        default_factory=list)
    kernels: list[KernelSpec] = _doc(
        "kernel sources: BTFHub archive trees, directories of BTF files, manifests (.tsv/.toml), "
        "single files, or 'sysfs' (the running kernel)", default_factory=list)
    out_dir: str = _doc("directory for the per-kernel BTF files (BTFHub layout) and btfembed.pack",
                        default="btfembed-out")
    jobs: int = _doc("parallel worker processes (0: one per CPU)", default=0)
    cache_dir: str | None = _doc("cache directory (default: $XDG_CACHE_HOME/btfembed)", default=None)
    cache: bool = _doc("reuse results of earlier builds (content-addressed)", default=True)
    kernel_store_max: str = _doc(
        "size limit of the kernel store (decoded kernels kept in the cache, least recently used evicted "
        "first; about 1.5 MB per kernel, so the default holds a BTFHub-scale run; 0 disables it)",
        default="8G")
    cache_max: str = _doc(
        "size limit of the cache's other entries (results, relocation outcomes, checks, packs): after a build "
        "that computed something, the least recently used are removed until the rest fit; 0: no limit",
        default="2G")
    executor: str = _doc("where per-kernel work runs: 'local' (worker processes) or 'dask://HOST:PORT' "
                         "(a dask.distributed scheduler; pip install 'btfembed[dask]')", default="local")
    report: str | None = _doc("write the machine-readable JSON report here", default=None)
    html: str | None = _doc("write the HTML report (summary per object, relocations per kernel) here", default=None)
    fail_on: str = _doc("exit 1 when a relocation is: 'never', 'ambiguous' (libbpf refuses the object; "
                        "includes errors), or 'poisoned' (or worse)", default="never")
    keep_going: bool = _doc("write the kernels that worked even if others failed (otherwise nothing is written)",
                            default=False)
    arch: list[str] = _doc("only kernels of these architectures (x86_64, arm64, ...)", default_factory=list)
    distro: list[str] = _doc("only kernels of these distributions (os-release ID)", default_factory=list)
    release: list[str] = _doc("only kernel releases matching these glob patterns", default_factory=list)
    userspace: list[str] = _doc(
        "applications whose own types the objects' relocations target (uprobe programs): ELF with .BTF, ELF "
        "with DWARF (converted with pahole) or raw BTF; their types are searched together with each kernel's "
        "and the used ones kept in every blob; APP=VERSION records VERSION instead of the GNU build id as the "
        "application's id in generated C/Python sources", default_factory=list)
    userspace_collisions: str = _doc(
        "relocations whose candidates come from both a kernel and an application: 'warn' (one line per "
        "kernel and relocation), 'error' (the kernel fails) or 'ignore'", default="warn")
    compat: bool = _doc("minimize exactly as bpftool 7.1 does (see 'btfembed minimize --help')", default=False)
    header_size: int = _doc("BTF header length of the outputs: 24 or 32", default=24)
    loader: str = _doc("write BTF kinds this loader parses: libbpf (>= 1.0), libbpf-0.6, libbpf-0.4, "
                       "libbpf-0.3 (or libbpf-0.x); see 'btfembed minimize --help'", default="libbpf")
    compress: bool = _doc("older spelling of codec = 'zlib'", default=False)
    codec: str | None = _doc("compression of the pack and of generated sources (docs/pack-format.md): 'zlib' "
                             "(default; Rust output: 'none'), 'xz' (smallest; C links liblzma), 'zstd' "
                             "(C links libzstd) or 'none'", default=None)
    emit: str | None = _doc("also generate sources embedding the pack: 'c', 'python', 'go' or 'rust'",
                            default=None)
    output: str | None = _doc("generated sources: NAME for NAME.c/NAME.h, the .py module path, the Go "
                              "package directory, or the .rs module path (unset: in out_dir, kernel_btf.c/.h, kernel_btf.py, "
                              "kbtf/ or kernel_btf.rs)", default=None)
    prefix: str | None = _doc("symbol prefix of generated C sources (unset: output's file name without a "
                              "trailing _btf, so output gen/probe_btf gives probe_btf_path())", default=None)
    depfile: str | None = _doc("write a Makefile-syntax depfile for the generated sources", default=None)
    go_package: str | None = _doc("package name of generated Go (unset: the output directory's name)",
                                  default=None)
    go_import_path: str | None = _doc("import path of generated Go, written as its import comment", default=None)
    # Where these settings were read from (not a setting).
    source: str | None = field(default=None, metadata={"internal": True})

    def emit_output(self) -> str | None:
        """Where ``emit`` writes: ``output``, else inside ``out_dir``:
        ``kernel_btf.c``/``.h`` (prefix ``kernel``), ``kernel_btf.py``,
        ``kbtf/`` (Go) or ``kernel_btf.rs``."""
        if not self.emit:
            return None
        return self.output or os.path.join(self.out_dir, DEFAULT_OUTPUTS[self.emit])

    def pack_codec(self) -> str:
        """The codec of btfembed.pack: ``codec``, else zlib (``compress`` is
        its older spelling, and zlib the default either way)."""
        return self.codec or "zlib"

    def validate(self) -> None:
        if self.fail_on not in FAIL_ON:
            raise ConfigError(f"fail_on must be one of {', '.join(FAIL_ON)}, not {self.fail_on!r}")
        if self.emit is not None and self.emit not in EMIT:
            raise ConfigError(f"emit must be one of {', '.join(EMIT)}, not {self.emit!r}")
        if (self.go_package is not None or self.go_import_path is not None) and self.emit != "go":
            raise ConfigError("go_package and go_import_path apply to emit = 'go' only")
        if self.prefix is not None:
            from btfembed.embed.codegen import check_prefix
            check_prefix(self.prefix)
        if self.codec is not None and self.codec not in CODECS:
            raise ConfigError(f"codec must be one of {', '.join(CODECS)}, not {self.codec!r}")
        from btfembed.minimize.loader import get_loader
        get_loader(self.loader)
        if self.userspace_collisions not in COLLISIONS:
            raise ConfigError(f"userspace_collisions must be one of {', '.join(COLLISIONS)}, "
                              f"not {self.userspace_collisions!r}")
        if self.header_size not in (24, 32):
            raise ConfigError(f"header_size must be 24 or 32, not {self.header_size}")
        if self.jobs < 0:
            raise ConfigError(f"jobs must be >= 0, not {self.jobs}")
        from btfembed.build.executors import parse_executor
        from btfembed.build.store import parse_size
        for name in ("kernel_store_max", "cache_max"):
            try:
                parse_size(getattr(self, name))
            except ConfigError as exc:
                raise ConfigError(f"{name}: {exc}") from None
        parse_executor(self.executor)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return str(value)


def settings_help() -> str:
    """One line per key: its description and its default, once, as TOML
    (a description that explains its own default, e.g. a computed one, is
    not followed by another)."""
    lines = ["settings (btfembed.toml, or [tool.btfembed] in pyproject.toml):"]
    for f in dataclasses.fields(Settings):
        if f.metadata.get("internal"):
            continue
        doc = f.metadata["doc"]
        if "(default:" not in doc:
            if f.default_factory is not dataclasses.MISSING:
                doc += f" (default: {_toml_value(f.default_factory())})"
            elif f.default is None:
                doc += " (default: not set)"
            else:
                doc += f" (default: {_toml_value(f.default)})"
        lines.append(f"  {f.name:<13} {doc}")
    return "\n".join(lines)


_CHOICES: dict[str, tuple[Any, ...]] = {"fail_on": FAIL_ON, "emit": EMIT, "codec": CODECS, "header_size": (24, 32),
                                        "userspace_collisions": COLLISIONS}


def _schema_of(hint: Any) -> dict[str, Any]:
    hint = _optional(hint)
    if hint is bool:
        return {"type": "boolean"}
    if hint is int:
        return {"type": "integer"}
    if hint is str:
        return {"type": "string"}
    if typing.get_origin(hint) is list:
        return {"type": "array", "items": _schema_of(typing.get_args(hint)[0])}
    if hint is KernelSpec:
        props = {f.name: _schema_of(t) for f, t in zip(dataclasses.fields(KernelSpec),
                                                         typing.get_type_hints(KernelSpec).values())}
        return {"anyOf": [
            {"type": "string", "description": "a directory, a manifest (.tsv/.toml), a BTF file, or 'sysfs'"},
            {"type": "object", "properties": props, "required": ["path"], "additionalProperties": False},
        ]}
    raise AssertionError(f"no schema for {hint}")  # pragma: no cover


def settings_schema() -> dict[str, Any]:
    """A JSON Schema (draft 2020-12) of btfembed.toml and pyproject.toml's
    [tool.btfembed], generated from ``Settings`` (docs/settings.schema.json
    is this, kept current by a test)."""
    hints = _hints()
    props: dict[str, Any] = {}
    for f in dataclasses.fields(Settings):
        if f.metadata.get("internal"):
            continue
        prop = {"description": f.metadata["doc"], **_schema_of(hints[f.name])}
        if f.name in _CHOICES:
            prop["enum"] = list(_CHOICES[f.name])
        if f.default_factory is not dataclasses.MISSING:
            prop["default"] = f.default_factory()
        elif f.default is not None:
            prop["default"] = f.default
        props[f.name] = prop
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "btfembed settings (btfembed.toml, or [tool.btfembed] in pyproject.toml)",
        "type": "object",
        "properties": props,
        "additionalProperties": False,
    }


def _type_error(name: str, want: str, value: Any, where: str) -> ConfigError:
    return ConfigError(f"{where}: setting '{name}' must be {want}, not {type(value).__name__} {value!r}")


def _rel(path: str, base: str | None) -> str:
    if base is None or path == "sysfs" or os.path.isabs(path):
        return path
    return os.path.normpath(os.path.join(base, path))


def _kernel_specs(value: Any, base: str | None, where: str) -> list[KernelSpec]:
    if not isinstance(value, list):
        raise _type_error("kernels", "a list", value, where)
    out = []
    for item in value:
        if isinstance(item, str):
            out.append(KernelSpec(_rel(item, base)))
        elif isinstance(item, dict):
            known = {f.name for f in dataclasses.fields(KernelSpec)}
            unknown = sorted(set(item) - known)
            if unknown:
                raise ConfigError(f"{where}: unknown key(s) in a kernels entry: {', '.join(unknown)}")
            if not isinstance(item.get("path"), str):
                raise ConfigError(f"{where}: a kernels entry needs a 'path' string")
            for k, v in item.items():
                if k == "modules":
                    if not isinstance(v, list) or not all(isinstance(m, str) for m in v):
                        raise _type_error("kernels.modules", "a list of paths", v, where)
                elif not isinstance(v, str):
                    raise _type_error(f"kernels.{k}", "a string", v, where)
            fixed = {**item, "path": _rel(item["path"], base)}
            if "modules" in item:
                fixed["modules"] = [_rel(m, base) for m in item["modules"]]
            out.append(KernelSpec(**fixed))
        else:
            raise _type_error("kernels entry", "a string or a table", item, where)
    return out


_PATH_SETTINGS = {"out_dir", "cache_dir", "report", "html", "output", "depfile"}
# Settings that the environment does not give: BTFEMBED_RELEASE is the
# runtimes' override of the running kernel's release, not a build filter.
_NOT_FROM_ENV = {"release"}
ENV_PREFIX = "BTFEMBED_"


@functools.lru_cache(maxsize=None)
def _hints() -> dict[str, Any]:
    """The settings' resolved type hints (made once: resolving them reads
    every annotation's text)."""
    hints: dict[str, Any] = typing.get_type_hints(Settings)
    return hints


def _optional(hint: Any) -> Any:
    """``X | None`` -> ``X`` (other hints unchanged)."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return hint


def _from_env_text(name: str, hint: Any, text: str, where: str) -> Any:
    """An environment variable's text as the type ``hint`` takes (lists are
    comma-separated; booleans 1/0, true/false, yes/no, on/off)."""
    if hint is bool:
        low = text.strip().lower()
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off", ""):
            return False
        raise _type_error(name, "true or false", text, where)
    if hint is int:
        try:
            return int(text.strip())
        except ValueError:
            raise _type_error(name, "an integer", text, where) from None
    if typing.get_origin(hint) is list:
        return [part.strip() for part in text.split(",") if part.strip()]
    return text


def _convert(name: str, value: Any, base: str | None, where: str) -> Any:
    """``value`` (from TOML, the environment after ``_from_env_text``, or the
    command line) checked against the type hint of setting ``name``; paths
    made relative to ``base`` (None: kept as given)."""
    hint = _optional(_hints()[name])
    if name == "kernels":
        return _kernel_specs(value, base, where)
    if typing.get_origin(hint) is list:
        (elem,) = typing.get_args(hint)
        if elem is KernelSpec:  # pragma: no cover - only 'kernels'
            return _kernel_specs(value, base, where)
        if not isinstance(value, list) or not all(isinstance(v, elem) for v in value):
            raise _type_error(name, "a list of strings", value, where)
        return [_rel(v, base) for v in value] if name in ("objects", "userspace") and base is not None else list(value)
    if hint is bool:
        if not isinstance(value, bool):
            raise _type_error(name, "true or false", value, where)
        return value
    if hint is int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise _type_error(name, "an integer", value, where)
        return value
    if hint is str:
        if not isinstance(value, str):
            raise _type_error(name, "a string", value, where)
        return _rel(value, base) if name in _PATH_SETTINGS and base is not None else value
    raise AssertionError(f"setting {name}: no conversion for {hint}")  # pragma: no cover


def _setting_names() -> list[str]:
    return [f.name for f in dataclasses.fields(Settings) if not f.metadata.get("internal")]


def _file_values(data: dict[str, Any], base: str, where: str) -> dict[str, Any]:
    names = set(_setting_names())
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"{where}: unknown setting(s): {', '.join(unknown)} (see 'btfembed build --help-settings')")
    return {name: _convert(name, value, base, where) for name, value in data.items()}


def _env_values(env: Mapping[str, str]) -> dict[str, Any]:
    hints = _hints()
    out: dict[str, Any] = {}
    for name in _setting_names():
        var = ENV_PREFIX + name.upper()
        if name in _NOT_FROM_ENV or var not in env:
            continue
        where = f"environment variable {var}"
        hint = _optional(hints[name])
        value: Any = _from_env_text(name, hint, env[var], where)
        if name == "kernels":
            from btfembed.build.kernels import parse_source_arg
            out[name] = [parse_source_arg(k) for k in value]
            continue
        out[name] = _convert(name, value, None, where)
    return out


def _validated(values: dict[str, Any], where: str | None, source: str | None = None) -> Settings:
    settings = Settings(**values, source=source)
    try:
        settings.validate()
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}" if where else str(exc)) from None
    return settings


def from_mapping(data: dict[str, Any], base: str, where: str) -> Settings:
    """Settings from a parsed TOML table; paths are made relative to ``base``."""
    return _validated(_file_values(data, base, where), where)


def merge_settings(file: str | None = None, env: Mapping[str, str] | None = None,
                   cli: Mapping[str, Any] | None = None) -> Settings:
    """The one place settings are merged: the settings ``file``
    (btfembed.toml or pyproject.toml's [tool.btfembed]) < the environment
    (``BTFEMBED_<NAME>``, e.g. ``BTFEMBED_JOBS=4``; lists comma-separated;
    not ``release``, which is the runtimes' variable) < ``cli`` (settings
    given on the command line, already typed; ``kernels`` as
    ``KernelSpec``).  Each value is checked against the setting's type hint;
    the result is validated once.  ``source`` is ``file``.
    """
    values: dict[str, Any] = {}
    if file:
        data, base, where = _read_table(file)
        from_file = _file_values(data, base, where)
        _validated(from_file, where)  # a bad file is named, whatever overrides it
        values.update(from_file)
    if env:
        values.update(_env_values(env))
    for name, value in (cli or {}).items():
        if name not in _hints() or name == "source":
            raise ConfigError(f"unknown setting {name!r}")
        values[name] = value if name == "kernels" else _convert(name, value, None, f"option for {name}")
    return _validated(values, None, source=file)


def find_settings_file(directory: str = ".") -> str | None:
    """``btfembed.toml``, else a ``pyproject.toml`` with a [tool.btfembed] table."""
    cand = os.path.join(directory, "btfembed.toml")
    if os.path.isfile(cand):
        return cand
    cand = os.path.join(directory, "pyproject.toml")
    if os.path.isfile(cand):
        try:
            data = parse_toml(read_bytes(cand).decode("utf-8", "replace"))
        except InvalidTOML:
            return None
        if isinstance(data.get("tool"), dict) and "btfembed" in data["tool"]:
            return cand
    return None


def _read_table(path: str) -> tuple[dict[str, Any], str, str]:
    """The settings table of ``path``, the directory its paths are
    relative to, and how messages name it."""
    raw = read_bytes(path)
    try:
        data = parse_toml(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc.__class__.__name__}: {exc}") from None
    except InvalidTOML as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    where = path
    if os.path.basename(path) == "pyproject.toml":
        tool = data.get("tool", {})
        table = tool.get("btfembed") if isinstance(tool, dict) else None
        where = f"{path} [tool.btfembed]"
        if table is None:
            raise ConfigError(f"{path}: no [tool.btfembed] table")
        if not isinstance(table, dict):
            raise ConfigError(f"{where}: must be a table")
        data = table
    return data, os.path.dirname(os.path.abspath(path)), where


def load_settings(path: str) -> Settings:
    """Read settings from ``path`` (btfembed.toml, or pyproject.toml's
    table); the environment and command line are not consulted (see
    ``merge_settings``)."""
    data, base, where = _read_table(path)
    return _validated(_file_values(data, base, where), where, source=path)
