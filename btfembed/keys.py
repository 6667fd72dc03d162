"""Kernel keys: which kernel a minimized BTF belongs to.

A key is (arch, distro, distro version, release), the BTFHub layout
``<distro>/<version>/<arch>/<release>.btf``:

* ``arch``: BTFHub's names, normalized from ``uname -m`` or package
  names (``aarch64`` -> ``arm64``, ``amd64`` -> ``x86_64``);
* ``distro`` and ``distro_version``: ``ID`` and ``VERSION_ID`` of
  os-release(5), unquoted ("" when unknown);
* ``release``: ``uname -r`` exactly.

The same rules are implemented by the C runtime (btfembed.h); keep them in
step.
"""

from __future__ import annotations

import os
from typing import NamedTuple

__all__ = ["KernelKey", "normalize_arch", "parse_os_release", "read_os_release", "running_key"]

_ARCH_ALIASES = {
    "aarch64": "arm64", "arm64": "arm64", "armv8": "arm64",
    "x86_64": "x86_64", "amd64": "x86_64", "x86-64": "x86_64", "x64": "x86_64",
    "i386": "x86", "i486": "x86", "i586": "x86", "i686": "x86", "x86": "x86",
    "armv7l": "arm", "armv6l": "arm", "armhf": "arm", "arm": "arm",
    "ppc64le": "ppc64le", "powerpc64le": "ppc64le",
    "s390x": "s390x", "riscv64": "riscv64", "loongarch64": "loongarch64", "mips64": "mips64",
}


def normalize_arch(machine: str) -> str:
    """BTFHub's name for an architecture (``aarch64`` -> ``arm64``)."""
    m = machine.strip().lower()
    return _ARCH_ALIASES.get(m, m)


class KernelKey(NamedTuple):
    arch: str
    distro: str
    distro_version: str
    release: str

    def path(self) -> str:
        """BTFHub-style relative path, ``<distro>/<version>/<arch>/<release>.btf``
        (unknown parts become ``_``)."""
        parts = [self.distro or "_", self.distro_version or "_", self.arch or "_", f"{self.release}.btf"]
        return "/".join(parts)

    def __str__(self) -> str:
        return self.path()[:-4]


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        quote, body = value[0], value[1:-1]
        if quote == "'":
            return body
        out, i = [], 0
        while i < len(body):
            c = body[i]
            if c == "\\" and i + 1 < len(body) and body[i + 1] in "\"\\$`":
                out.append(body[i + 1])
                i += 2
                continue
            out.append(c)
            i += 1
        return "".join(out)
    return value


def parse_os_release(text: str) -> dict[str, str]:
    """Parse os-release(5) content: ``KEY=value`` lines, values optionally
    single- or double-quoted (with backslash escapes), ``#`` comments."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        key = key.strip()
        if key and all(c.isalnum() or c == "_" for c in key):
            out[key] = _unquote(value)
    return out


def read_os_release(root: str = "/") -> dict[str, str]:
    """os-release of the system under ``root`` (/etc first, then /usr/lib);
    empty when neither exists."""
    for rel in ("etc/os-release", "usr/lib/os-release"):
        try:
            with open(os.path.join(root, rel), encoding="utf-8", errors="replace") as f:
                return parse_os_release(f.read())
        except OSError:
            continue
    return {}


def running_key(root: str = "/") -> KernelKey:
    """The key of the running system."""
    u = os.uname()
    osr = read_os_release(root)
    return KernelKey(normalize_arch(u.machine), osr.get("ID", ""), osr.get("VERSION_ID", ""), u.release)
