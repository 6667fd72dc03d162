"""setuptools integration: generate the embedded-BTF Python module at build time.

A project opts in with two things in its ``pyproject.toml``::

    [build-system]
    requires = ["setuptools>=64", "btfembed"]
    build-backend = "setuptools.build_meta"

    [tool.btfembed]
    objects = ["src/mypkg/probe.bpf.o"]
    kernels = ["/srv/btfhub-archive/ubuntu", "sysfs"]
    emit = "python"                      # the default here
    output = "src/mypkg/_btf.py"         # inside one of the project's packages

Nothing else: the ``setuptools.finalize_distribution_options`` entry point
(:func:`finalize`) sees the table and adds the :class:`build_btf` command to
``build``'s sub-commands.  ``build_btf`` runs ``btfembed build`` with these
settings (see ``btfembed build --help-settings``; paths are relative to the
project) and writes the module and its ``.btfpack`` data file:

* into the wheel (``build_lib/mypkg/_btf.py``), for ``pip wheel``,
  ``pip install``, ``python -m build`` (also wheel-from-sdist);
* into the source tree (``src/mypkg/_btf.py``) for editable installs
  (PEP 660, ``pip install -e``): add them to ``.gitignore``.

The sdist includes the BPF objects.  Kernel sources are not copied into it:
a wheel built from an sdist needs them where ``kernels`` says (absolute
paths, or paths that exist relative to the unpacked sdist), or ``sysfs``.

Projects without the table, or without btfembed in ``build-system.requires``,
are left alone: :func:`finalize` reads ``pyproject.toml``, finds no table and
returns, without output.  ``out_dir`` defaults to the build's temporary
directory; ``cache_dir`` to the user cache, shared with ``btfembed build``.

For explicit use (``setup.py``), the classes are importable::

    from btfembed.integrations.setuptools import build_btf, build_with_btf
    setup(cmdclass={"build": build_with_btf(), "build_btf": build_btf})
"""

from __future__ import annotations

import glob
import os
import re
import sys
from typing import Any

from setuptools import Command

from btfembed.inputs.toml import parse_toml

__all__ = ["finalize", "build_btf", "build_with_btf", "project_config"]

PYPROJECT = "pyproject.toml"


def _requires_btfembed(requires: Any) -> bool:
    if not isinstance(requires, list):
        return False
    for req in requires:
        m = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", req) if isinstance(req, str) else None
        if m and re.sub(r"[-_.]+", "-", m.group(1)).lower() == "btfembed":
            return True
    return False


def project_config(directory: str = ".") -> "dict[str, Any] | None":
    """The ``[tool.btfembed]`` table of ``directory/pyproject.toml`` if the
    project opted in (the table exists and ``build-system.requires`` names
    btfembed), else None.  Cheap when it did not: one file read and a
    substring test before any TOML parsing."""
    try:
        with open(os.path.join(directory, PYPROJECT), "rb") as f:
            raw = f.read()
    except OSError:
        return None
    if b"btfembed" not in raw:
        return None
    try:
        data = parse_toml(raw.decode("utf-8"))
    except Exception:  # noqa: BLE001 - setuptools reports broken pyproject files itself
        return None
    tool = data.get("tool")
    table = tool.get("btfembed") if isinstance(tool, dict) else None
    if not isinstance(table, dict):
        return None
    build_system = data.get("build-system")
    if not isinstance(build_system, dict) or not _requires_btfembed(build_system.get("requires")):
        return None
    return table


def build_with_btf(base: "type | None" = None) -> type:
    """A subclass of ``base`` (default: setuptools' ``build``) whose
    sub-commands run ``build_btf`` right after ``build_py`` (so a stale
    generated module copied from the source tree is overwritten)."""
    if base is None:
        from setuptools.command.build import build as setuptools_build
        base = setuptools_build
    assert base is not None
    if getattr(base, "_btfembed", False):
        return base
    subs = [s for s in getattr(base, "sub_commands") if s[0] != "build_btf"]
    names = [s[0] for s in subs]
    at = names.index("build_py") + 1 if "build_py" in names else 0
    subs.insert(at, ("build_btf", None))
    return type("build", (base,), {"sub_commands": subs, "_btfembed": True, "__module__": __name__})


def finalize(dist: Any) -> None:
    """``setuptools.finalize_distribution_options`` hook: activate for
    projects that opted in (see :func:`project_config`), silently do nothing
    for all others.  PEP 517 backends run with the project as the current
    directory."""
    if project_config() is None:
        return
    dist.cmdclass["build"] = build_with_btf(dist.cmdclass.get("build"))
    dist.cmdclass.setdefault("build_btf", build_btf)


# After setuptools' own hooks (order 0).
finalize.order = 100  # type: ignore[attr-defined]


class build_btf(Command):  # type: ignore[misc]  # setuptools.Command is untyped here
    """Generate the ``[tool.btfembed]`` Python module (``btfembed build
    --emit python``); implements setuptools' build ``SubCommand`` protocol."""

    description = "generate the embedded-BTF module of [tool.btfembed] (btfembed build --emit python)"
    user_options = [
        ("build-lib=", "d", "directory of the built packages"),
        ("build-temp=", "t", "directory for btfembed's per-kernel outputs"),
    ]

    def initialize_options(self) -> None:
        self.build_lib: "str | None" = None
        self.build_temp: "str | None" = None
        self.editable_mode = False
        self._plan: "dict[str, Any] | None" = None

    def finalize_options(self) -> None:
        self.set_undefined_options("build_py", ("build_lib", "build_lib"))
        self.set_undefined_options("build", ("build_temp", "build_temp"))

    # -- configuration ------------------------------------------------------

    def _project(self) -> str:
        return os.path.abspath(getattr(self.distribution, "src_root", None) or os.curdir)

    def _load(self) -> dict[str, Any]:
        """Settings, the generated files' paths in the source tree and in
        build_lib (computed once)."""
        if self._plan is not None:
            return self._plan
        from setuptools.errors import SetupError as DistutilsSetupError

        from btfembed.embed.codegen import python_output_paths
        from btfembed.errors import BTFEmbedError
        from btfembed.build.settings import load_settings

        root = self._project()
        pyproject = os.path.join(root, PYPROJECT)
        table = project_config(root)
        if table is None:
            raise DistutilsSetupError(f"build_btf: {pyproject} has no [tool.btfembed] table "
                                      "(or build-system.requires does not list btfembed)")
        try:
            settings = load_settings(pyproject)
        except BTFEmbedError as exc:
            raise DistutilsSetupError(f"btfembed: {exc}") from None
        if settings.emit not in (None, "python"):
            raise DistutilsSetupError(
                f"{pyproject} [tool.btfembed]: emit = {settings.emit!r}: the setuptools hook generates "
                "Python modules (emit = \"python\"); C sources belong to a C build (CMake: "
                "find_package(BTFEmbed), btfembed_add_library)")
        if not settings.output:
            raise DistutilsSetupError(f"{pyproject} [tool.btfembed]: set output, the module to generate "
                                      "inside one of the packages (e.g. \"src/mypkg/_btf.py\")")
        try:
            src_py, src_data = python_output_paths(settings.output)
        except BTFEmbedError as exc:
            raise DistutilsSetupError(f"{pyproject} [tool.btfembed]: {exc}") from None
        package = self._package_of(os.path.dirname(src_py))
        if package is None:
            raise DistutilsSetupError(
                f"{pyproject} [tool.btfembed]: output {settings.output!r} is not inside a package of this "
                f"project (packages: {', '.join(self.distribution.packages or []) or 'none'})")
        assert self.build_lib is not None  # finalize_options set it
        dest_dir = os.path.join(self.build_lib, *package.split(".")) if package else self.build_lib
        self._plan = {
            "root": root,
            "pyproject": pyproject,
            "table": table,
            "settings": settings,
            "src": [src_py, src_data],
            "dest": [os.path.join(dest_dir, os.path.basename(p)) for p in (src_py, src_data)],
        }
        return self._plan

    def _package_of(self, directory: str) -> "str | None":
        build_py = self.get_finalized_command("build_py")
        directory = os.path.normcase(os.path.realpath(directory))
        for package in self.distribution.packages or []:
            pkg_dir = build_py.get_package_dir(package)
            if os.path.normcase(os.path.realpath(os.path.join(self._project(), pkg_dir))) == directory:
                return str(package)
        return None

    # -- SubCommand protocol -------------------------------------------------

    def run(self) -> None:
        import dataclasses

        from setuptools.errors import ExecError as DistutilsExecError

        from btfembed.build.outputs import check_complete, write_outputs
        from btfembed.build.report import fails
        from btfembed.build.run import build
        from btfembed.errors import BTFEmbedError, one_line

        plan = self._load()
        target = plan["src"][0] if self.editable_mode else plan["dest"][0]
        changes: dict[str, Any] = {"emit": "python", "output": target, "source": plan["pyproject"]}
        if "out_dir" not in plan["table"]:
            assert self.build_temp is not None  # finalize_options set it
            changes["out_dir"] = os.path.join(os.path.abspath(self.build_temp), "btfembed")
        settings = dataclasses.replace(plan["settings"], **changes)
        # distutils' log (setuptools' copy): INFO in old (distutils levels)
        # and new (logging levels) setuptools alike; shown by pip -v.
        from distutils import log

        def warn(message: str) -> None:
            print(f"btfembed: warning: {one_line(message)}", file=sys.stderr)

        log.info(f"btfembed: generating {os.path.relpath(target, plan['root'])}")
        try:
            result = build(settings, warn=warn)
            check_complete(result, settings)
            for k in result.failed:
                warn(f"{k.kernel.key}: {k.error}")
            write_outputs(result, settings)
            bad = fails(result, settings.fail_on)
            if bad:
                raise DistutilsExecError(f"btfembed build: {len(bad)} kernel(s) have {settings.fail_on} "
                                         f"(or worse) relocations, e.g. {bad[0].kernel.key}")
        except BTFEmbedError as exc:
            print(f"btfembed: error: {exc}", file=sys.stderr)
            raise DistutilsExecError(f"btfembed build failed: {exc}") from None

    def get_source_files(self) -> list[str]:
        """The BPF objects inside the project, relative to it (for the sdist)."""
        plan = self._load()
        root = plan["root"]
        out = []
        for pattern in plan["settings"].objects:
            matches = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]
            for path in matches:
                rel = os.path.relpath(path, root)
                if os.path.isfile(path) and not rel.startswith(os.pardir + os.sep):
                    out.append(rel.replace(os.sep, "/"))
        return out

    def get_outputs(self) -> list[str]:
        return list(self._load()["dest"])

    def get_output_mapping(self) -> dict[str, str]:
        if not self.editable_mode:
            return {}
        plan = self._load()
        return {dest: os.path.relpath(src, plan["root"]) for dest, src in zip(plan["dest"], plan["src"])}
