"""The shared table of key-rule cases (tests/data/key_rules.json) and how
to turn one case into inputs for a runtime.

Every runtime (C, Python, Go, Rust) is run against the same cases: see
tests/test_runtime_rules.py (C and Python) and tests/test_key_rules.py
(all four).  A runtime harness that speaks the C harness's command line
(``--os-release F --release R --machine M --sysfs F --force --no-env
--dump F`` and ``--key-only``; key=value lines out) is driven by
``harness_args``.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from btfembed.embed.keys import KernelKey

TABLE = Path(__file__).resolve().parent / "data" / "key_rules.json"


@functools.lru_cache(maxsize=None)
def table() -> dict[str, Any]:
    return json.loads(TABLE.read_text("utf-8"))


def entries(blobs: dict[str, bytes]) -> list[tuple[KernelKey, bytes]]:
    """The table's kernels, with each blob label replaced by ``blobs[label]``."""
    return [(KernelKey(*e["key"]), blobs[e["blob"]]) for e in table()["entries"]]


def cases() -> list[dict[str, Any]]:
    return table()["cases"]


def vias(case: dict[str, Any]) -> list[str]:
    """How the case's inputs are given: as options, as environment variables."""
    return [case["via"]] if "via" in case else ["options", "env"]


def case_ids() -> list[str]:
    return [c["name"] for c in cases()]


def case_params() -> list[tuple[dict[str, Any], str]]:
    return [(c, v) for c in cases() for v in vias(c)]


def case_param_ids() -> list[str]:
    return [f"{c['name']}-{v}" for c, v in case_params()]


def simple(case: dict[str, Any]) -> bool:
    """A case with no environment of its own, run both ways."""
    return not ({"via", "env", "no_env", "host_root"} & set(case))


def host_root(tmp: Path, case: dict[str, Any]) -> str | None:
    """For a case with ``host_root`` ({"etc": text, "usr_lib": text}, null
    for a missing file): the directory holding them, else None."""
    spec = case.get("host_root")
    if spec is None:
        return None
    root = tmp / "host"
    for where, rel in (("etc", "etc/os-release"), ("usr_lib", "usr/lib/os-release")):
        if spec.get(where) is not None:
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_bytes(spec[where].encode("utf-8"))
    root.mkdir(exist_ok=True)
    return str(root)


def inputs(tmp: Path, case: dict[str, Any]) -> dict[str, Any]:
    """Files for the case in ``tmp``; returns the options: os_release (a path,
    missing when the case's os-release is null; None when the case reads a
    host root instead), release, machine, force and sysfs_btf (an existing
    file when the kernel has BTF)."""
    osr_path: Path | None = tmp / f"{case['name']}.os-release"
    if "host_root" in case:
        osr_path = None
    elif case["os_release"] is not None:
        osr_path.write_bytes(case["os_release"].encode("utf-8"))
    sysfs = tmp / "vmlinux-present"
    sysfs.write_bytes(b"x")
    return {"os_release": str(osr_path) if osr_path else None, "release": case["release"],
            "machine": case["machine"], "force": bool(case.get("force", False)),
            "sysfs_btf": str(sysfs) if case.get("kernel_btf", False) else str(tmp / "no-such-vmlinux")}


def case_env(tmp: Path, case: dict[str, Any]) -> dict[str, str]:
    """The environment a case sets whichever way its inputs are given."""
    env = dict(case.get("env", {}))
    root = host_root(tmp, case)
    if root is not None:
        env["BTFEMBED_HOST_ROOT"] = root
    return env


def option_env(inp: dict[str, Any]) -> dict[str, str]:
    """The options as BTFEMBED_* environment variables."""
    env = {"BTFEMBED_RELEASE": inp["release"], "BTFEMBED_MACHINE": inp["machine"],
           "BTFEMBED_SYSFS_BTF": inp["sysfs_btf"]}
    if inp["os_release"] is not None:
        env["BTFEMBED_OS_RELEASE"] = inp["os_release"]
    if inp["force"]:
        env["BTFEMBED_FORCE"] = "1"
    return env


def harness_args(tmp: Path, case: dict[str, Any], via: str) -> tuple[list[str], dict[str, str]]:
    """Command-line arguments and environment for a harness run of ``case``."""
    inp = inputs(tmp, case)
    env = case_env(tmp, case)
    if via == "options":
        args = (["--os-release", inp["os_release"]] if inp["os_release"] is not None else []) + [
            "--release", inp["release"], "--machine", inp["machine"],
            "--sysfs", inp["sysfs_btf"]] + (["--force"] if inp["force"] else [])
    else:
        args = []
        env.update(option_env(inp))
    if case.get("no_env"):
        args.append("--no-env")
    return args, env


def expected(case: dict[str, Any]) -> tuple[str, tuple[str, ...] | None, bool]:
    e = case["expect"]
    return e["status"], tuple(e["match"]) if e["match"] is not None else None, e["exact"]


def expected_key(case: dict[str, Any]) -> tuple[str, ...] | None:
    key = case["expect"].get("key")
    return tuple(key) if key is not None else None


def arch_cases() -> list[tuple[str, str]]:
    return [tuple(pair) for pair in table()["arch"]]


def os_release_cases() -> list[dict[str, Any]]:
    return table()["os_release"]
