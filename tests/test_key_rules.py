"""Every runtime against the one table of key-rule cases
(tests/data/key_rules.json): the C runtime (btfembed.c through a generated
table), the Python runtime (btfembed/embed/runtime.py), and the generated
Go and Rust runtimes (built with the system's go and rustc, offline;
skipped when the toolchain is missing).

The simple cases (no environment of their own) also run in
tests/test_runtime_rules.py for C and Python, on raw and zlib tables; here
C and Python run the rest, Go and Rust run everything.  Each runtime also
normalizes the table's arch names and parses its os-release texts.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any, Callable

import key_rules
import pytest
import toolchains

from btfembed.embed import runtime
from btfembed.embed.codegen import write_go
from btfembed.embed.codegen._table import canonical_table
from btfembed.embed.codegen.go import GO_FILES
from btfembed.embed.keys import KernelKey
from btfembed.embed.pack import build_pack

from test_runtime_rules import ENV_VARS, RC_STATUS, Harness, blobs, build_harness, clean_env, parse_output

STATUS_NAMES = {runtime.EMBEDDED, runtime.KERNEL_BTF, runtime.NO_MATCH, runtime.AMBIGUOUS}


class Runner:
    """One runtime: ``decide`` runs a case, ``key`` computes a running key."""

    name = ""

    def decide(self, case: dict[str, Any], via: str, tmp: Path) -> dict[str, Any]:
        raise NotImplementedError

    def key(self, args: list[str], tmp: Path) -> dict[str, str]:
        raise NotImplementedError


class ExeRunner(Runner):
    """A compiled harness speaking the C harness's command line."""

    def __init__(self, name: str, cmd: list[str], kernels: list[tuple[str, ...]]):
        self.name, self.cmd, self.kernels = name, cmd, kernels

    def run(self, args: list[str], env: dict[str, str]) -> dict[str, str]:
        proc = subprocess.run(self.cmd + args, env=clean_env(**env), capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, f"{self.name}: {proc.stderr}"
        out = parse_output(proc.stdout)
        lines = [line for line in proc.stderr.splitlines() if line.startswith("btfembed: key=")]
        out["explain"] = lines[-1] if lines else ""
        return out

    def decide(self, case, via, tmp):
        args, env = key_rules.harness_args(tmp, case, via)
        env.setdefault("BTFEMBED_DEBUG", "1")
        dump = tmp / "dump.btf"
        dump.unlink(missing_ok=True)
        out = self.run(args + ["--dump", str(dump)], env)
        status = RC_STATUS[int(out["rc"])] if "status_name" not in out else out["status_name"]
        match = tuple(self.kernels[int(out["kernel"])]) if status == runtime.EMBEDDED else None
        assert (out["path"] != "") == (status == runtime.EMBEDDED), out
        if "fds_leaked" in out:
            assert out["released"] == "1" and out["fds_leaked"] == "0", out
        return {"status": status, "match": match, "exact": out["exact"] == "1",
                "key": (out["arch"], out["distro"], out["version"], out["release"]),
                "blob": dump.read_bytes() if dump.exists() else None, "explain": out["explain"]}

    def key(self, args, tmp):
        return self.run(["--key-only", *args], {})


class PythonRunner(Runner):
    name = "python"

    def __init__(self, pack):
        self.pack = pack

    def decide(self, case, via, tmp):
        inp = key_rules.inputs(tmp, case)
        env = key_rules.case_env(tmp, case)
        opts = {k: v for k, v in inp.items() if v is not None}
        if via == "env":
            env.update(key_rules.option_env(inp))
            opts = {}
        if case.get("no_env"):
            opts["use_env"] = False
        with pytest.MonkeyPatch.context() as mp:
            for var in ENV_VARS:
                mp.delenv(var, raising=False)
            for k, v in env.items():
                mp.setenv(k, v)
            res = runtime.lookup(self.pack, **opts)
        return {"status": res.status, "match": res.match, "exact": res.exact, "key": res.key, "blob": res.blob,
                "explain": runtime.explain(res)}

    def key(self, args, tmp):
        opts: dict[str, Any] = {"use_env": False}
        it = iter(args)
        for a in it:
            opts[{"--os-release": "os_release", "--machine": "machine", "--release": "release"}[a]] = next(it)
        k = runtime.running_key(**opts)
        fields = runtime.read_os_release(opts.get("os_release"), use_env=False)
        distro, version = fields.get("ID", ""), fields.get("VERSION_ID", "")
        usable = [v for v in (distro, version) if "\0" not in v and len(v.encode()) <= runtime.FIELD_MAX]
        return {"arch": k[0], "release": k[3],
                "distro": distro if distro in usable else "", "version": version if version in usable else "",
                "os_ok": str(int(len(usable) == 2))}


def rules_pack():
    return build_pack(key_rules.entries(blobs()))


def _c_factory(tmp_path_factory) -> Runner:
    h: Harness = build_harness(tmp_path_factory.mktemp("key-rules-c"), rules_pack(), compress=False)
    return ExeRunner("c", [str(h.exe)], [tuple(k) for k, _ in h.table.kernels])


def _go_factory(tmp_path_factory) -> Runner:
    """The generated Go package (zlib pack) and tests/tools/go_harness.go."""
    toolchains.go()
    gopath = tmp_path_factory.mktemp("key-rules-go")
    pack = rules_pack()
    outputs = write_go(pack, str(gopath / "src" / "btfembed_rules"))
    assert sorted(Path(p).name for p in outputs) == sorted(GO_FILES)
    exe = toolchains.go_build(gopath, toolchains.TOOLS / "go_harness.go", gopath / "harness")
    return ExeRunner("go", [str(exe)], [tuple(k) for k, _ in canonical_table(pack).kernels])


def _rust_factory(tmp_path_factory) -> Runner:
    """The generated Rust module (codec none) and tests/tools/rust_harness.rs,
    handing the blob over through btf_path() (a memfd)."""
    pack = rules_pack()
    exe = toolchains.build_rust_harness(tmp_path_factory.mktemp("key-rules-rust"), pack)
    return ExeRunner("rust", [str(exe)], [tuple(k) for k, _ in canonical_table(pack).kernels])


# name -> factory(tmp_path_factory) -> Runner (or pytest.skip when the
# toolchain is missing).
FACTORIES: dict[str, Callable[[Any], Runner]] = {
    "c": _c_factory,
    "python": lambda _f: PythonRunner(rules_pack()),
    "go": _go_factory,
    "rust": _rust_factory,
}
RUNTIMES = list(FACTORIES)


def _params() -> list:
    out = []
    for name in RUNTIMES:
        for case, via in key_rules.case_params():
            if name in ("c", "python") and key_rules.simple(case):
                continue  # run by test_runtime_rules.py, on raw and zlib tables
            out.append(pytest.param(name, case, via, id=f"{name}-{case['name']}-{via}"))
    return out


@pytest.fixture(scope="module")
def runners(tmp_path_factory) -> dict[str, Runner]:
    return {}


def _get(runners: dict, name: str, tmp_path_factory) -> Runner:
    if name not in runners:
        try:
            runners[name] = FACTORIES[name](tmp_path_factory)
        except pytest.skip.Exception as exc:
            runners[name] = exc
    got = runners[name]
    if isinstance(got, BaseException):
        pytest.skip(str(got))
    return got


@pytest.mark.parametrize("name,case,via", _params())
def test_case(runners, tmp_path_factory, name: str, case: dict, via: str, tmp_path: Path) -> None:
    r = _get(runners, name, tmp_path_factory)
    got = r.decide(case, via, tmp_path)
    assert got["status"] in STATUS_NAMES
    assert (got["status"], got["match"], got["exact"]) == key_rules.expected(case)
    want_key = key_rules.expected_key(case)
    if want_key is not None:
        assert tuple(got["key"]) == want_key
    if got["status"] == runtime.EMBEDDED:
        assert got["blob"] == rules_pack().blob_for(KernelKey(*got["match"]))
    else:
        assert got["blob"] is None


@pytest.mark.parametrize("name", RUNTIMES)
def test_arch_names(runners, tmp_path_factory, name: str, tmp_path: Path) -> None:
    r = _get(runners, name, tmp_path_factory)
    for machine, arch in key_rules.arch_cases():
        assert r.key(["--machine", machine, "--release", "r", "--os-release", "/nonexistent"], tmp_path)["arch"] == arch, \
            (name, machine)


@pytest.mark.parametrize("name", RUNTIMES)
def test_os_release_parsing(runners, tmp_path_factory, name: str, tmp_path: Path) -> None:
    r = _get(runners, name, tmp_path_factory)
    path = tmp_path / "os-release"
    for c in key_rules.os_release_cases():
        path.write_bytes(c["text"].encode("utf-8"))
        out = r.key(["--os-release", str(path), "--machine", "x86_64", "--release", "r"], tmp_path)
        assert (out["distro"], out["version"], out["os_ok"]) == (c["id"], c["version_id"], str(int(c["ok"]))), \
            (name, c["name"])


def test_table_is_well_formed() -> None:
    """Every case names a known status, matches an entry, and the table has
    all three kinds of decision the rules can make."""
    keys = {tuple(e["key"]) for e in key_rules.table()["entries"]}
    seen = set()
    for c in key_rules.cases():
        status, match, exact = key_rules.expected(c)
        assert status in STATUS_NAMES, c["name"]
        assert (match is not None) == (status == runtime.EMBEDDED), c["name"]
        assert match is None or match in keys, c["name"]
        seen.add((status, exact))
    assert {(runtime.EMBEDDED, True), (runtime.EMBEDDED, False), (runtime.AMBIGUOUS, False),
            (runtime.NO_MATCH, False), (runtime.KERNEL_BTF, False)} <= seen
    assert len(set(key_rules.case_ids())) == len(key_rules.cases())


@pytest.mark.parametrize("case,via", [p for p in key_rules.case_params() if not p[0].get("no_env")],
                         ids=[i for p, i in zip(key_rules.case_params(), key_rules.case_param_ids())
                              if not p[0].get("no_env")])
def test_explanations_agree(runners, tmp_path_factory, case: dict, via: str, tmp_path: Path) -> None:
    """BTFEMBED_DEBUG=1: every runtime explains its decision in the same
    line as the C runtime (key, where it came from, how it matched, the
    entry and its blob's SHA-256, the status)."""
    lines = {}
    for name in RUNTIMES:
        try:
            r = _get(runners, name, tmp_path_factory)
        except pytest.skip.Exception:
            continue
        lines[name] = r.decide(case, via, tmp_path)["explain"]
    assert lines["c"].startswith("btfembed: key="), lines
    assert {name: line for name, line in lines.items() if line != lines["c"]} == {}, lines["c"]
