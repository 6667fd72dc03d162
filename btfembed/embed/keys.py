"""Kernel keys: which kernel a minimized BTF belongs to.

A key is (arch, distro, distro version, release), the BTFHub layout
``<distro>/<version>/<arch>/<release>.btf``:

* ``arch``: BTFHub's names, normalized from ``uname -m`` or package
  names (``aarch64`` -> ``arm64``, ``amd64`` -> ``x86_64``);
* ``distro`` and ``distro_version``: ``ID`` and ``VERSION_ID`` of
  os-release(5), unquoted ("" when unknown);
* ``release``: ``uname -r`` exactly.

The rules themselves live in ``btfembed.embed.runtime`` (standard library only, so
it can be copied into generated modules) and are mirrored byte for byte by
the C runtime (``include/btfembed.c``); this module gives them the
``KernelKey`` type the build side uses.
"""

from __future__ import annotations

from typing import NamedTuple

from btfembed.embed import runtime as _rt

__all__ = ["KernelKey", "normalize_arch", "parse_os_release", "read_os_release", "running_key"]

normalize_arch = _rt.normalize_arch
parse_os_release = _rt.parse_os_release


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


def read_os_release(path: str | None = None) -> dict[str, str]:
    """os-release fields of this system (/etc/os-release, then
    /usr/lib/os-release; ``BTFEMBED_OS_RELEASE`` overrides); empty when
    neither can be read."""
    return _rt.read_os_release(path)


def running_key() -> KernelKey:
    """The key of the running system, as the runtimes compute it (the
    ``BTFEMBED_RELEASE``/``_MACHINE``/``_OS_RELEASE`` overrides included)."""
    return KernelKey(*_rt.running_key())
