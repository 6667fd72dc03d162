"""Golden digests of the command line's outputs on the test corpus.

``cases(work)`` lists command lines (``btfembed minimize``, ``explain``,
``verify``, ``build`` and ``generate``) over a copy of tests/data in
``work``; ``run(work)`` runs each in this process and returns, per case,
its exit status and the SHA-256 of its stdout, stderr and every file it
wrote (with ``work``'s path replaced, so digests do not depend on where
the copy is).  tests/test_golden_outputs.py compares them with
tests/data/golden/outputs.json.

When an output changes on purpose (a new file format, a new report
field), regenerate the file and commit it with the change::

    PYTHONPATH=. python3 tests/golden.py --update

Run against an older checkout (``PYTHONPATH=<checkout>``) to see what a
commit produced.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import lzma
import os
import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
GOLDEN = DATA / "golden" / "outputs.json"

VMLINUX = ("cilium-testdata_2019-11_x86_64_5.3-approx", "debian_12_x86_64_6.1.0-50-amd64",
           "kylin_V10_arm64_4.19.90-24.4.v2101.ky10.aarch64")
MODULE = "debian_12_x86_64_6.1.0-50-amd64__nf_conntrack"
ABOUT = ("Outputs of the command line at commit d28e486 (before the public API and the typing work); "
         "the pack, report and Python-module digests of the build and generate cases as of f89def4 "
         "(pack format 2), regenerated for pack format 3 (the BTF recoding); the build cases' "
         "debian 6.1 blob with the nf_conntrack module types its relocations reach (modules in build).  Regenerate with: PYTHONPATH=. python3 tests/golden.py --update")
REAL = ("conntrack_mod", "kernel_c19", "key_ref_fwd", "no_core", "task_small", "tracer")


def prepare(work: Path) -> None:
    """Copy the corpus into ``work``: objs/, synth/, kernels/ (as shipped)
    and raw/ (decompressed kernels, fast to open)."""
    shutil.copytree(DATA / "objs", work / "objs")
    shutil.copytree(DATA / "synth", work / "synth")
    shutil.copytree(DATA / "kernels", work / "kernels")
    (work / "raw").mkdir()
    for name in (*VMLINUX, MODULE):
        (work / "raw" / f"{name}.btf").write_bytes(lzma.decompress((DATA / "kernels" / f"{name}.btf.xz").read_bytes()))


def _objs(work: Path, pattern: str) -> list[str]:
    return sorted(str(p.relative_to(work)) for p in (work / "objs").glob(pattern))


def cases(work: Path) -> list[tuple[str, list[str]]]:
    real_el = [o for o in _objs(work, "*.el.o") if Path(o).name.split(".")[0] in REAL]
    real_all = [o for o in _objs(work, "*.o") if Path(o).name.split(".")[0] in REAL]
    synth_all = [o for o in _objs(work, "synth_*.o")]
    synth_el = [o for o in synth_all if o.endswith(".el.o")]
    out: list[tuple[str, list[str]]] = []
    for k in VMLINUX:
        raw = f"raw/{k}.btf"
        out.append((f"explain-json/{k}", ["explain", raw, *real_all, "--json"]))
        out.append((f"explain/{k}", ["explain", raw, *real_all]))
        out.append((f"minimize-all/{k}", ["minimize", raw, f"{k}.all.btf", *real_el]))
        out.append((f"verify-all/{k}", ["verify", raw, f"{k}.all.btf", *real_el]))
        out.append((f"minimize-h32-big/{k}", ["minimize", "--header-size", "32", "--byte-order", "big",
                                              raw, f"{k}.h32big.btf", *real_el]))
        for o in real_el:
            stem = Path(o).name
            out.append((f"minimize/{k}/{stem}", ["minimize", raw, f"{k}.{stem}.btf", o, "--report"]))
            out.append((f"minimize-compat/{k}/{stem}",
                        ["minimize", "--compat", "bpftool", raw, f"{k}.{stem}.compat.btf", o]))
    debian = f"raw/{VMLINUX[1]}.btf"
    ct = "objs/conntrack_mod.el.o"
    out.append(("minimize-module", ["minimize", "--module", f"raw/{MODULE}.btf", debian, "module.btf", ct]))
    out.append(("explain-module", ["explain", "--module", f"raw/{MODULE}.btf", debian, ct, "--json"]))
    for s in sorted((work / "synth").glob("*.btf")):
        rel = str(s.relative_to(work))
        out.append((f"explain-json/synth/{s.stem}", ["explain", rel, *synth_all, "--json"]))
        for o in synth_el:
            stem = Path(o).name
            out.append((f"minimize/synth/{s.stem}/{stem}", ["minimize", rel, f"synth.{s.stem}.{stem}.btf", o]))
    common = [*real_el, "--kernels", "kernels", "-j1", "--no-cache", "-q"]
    out.append(("build-c", ["build", *common, "--out-dir", "b1", "--report", "b1/report.json",
                            "--emit", "c", "--output", "b1/gen/min_btf", "--prefix", "golden",
                            "--depfile", "b1/gen/min_btf.d"]))
    out.append(("build-python", ["build", *common, "--out-dir", "b2", "--compress", "--header-size", "32",
                                 "--report", "b2/report.json", "--emit", "python", "--output", "b2/py/_btf.py"]))
    out.append(("build-compat", ["build", *common, "--out-dir", "b3", "--compat", "bpftool", "--keep-going"]))
    for name, args in (("generate-c", ["--lang", "c", "--output", "g/c/min", "--depfile", "g/c/min.d"]),
                       ("generate-c-compress", ["--output", "g/cz/min.c", "--compress", "--prefix", "zz"]),
                       ("generate-python", ["--output", "g/py/_btf.py"]),
                       ("generate-python-compress", ["--lang", "python", "--output", "g/pyz/_btf", "--compress"])):
        out.append((name, ["generate", "b1/btfembed.pack", *args]))
    return out


def _digest(data: bytes, work: Path) -> str:
    for prefix in {str(work), os.path.realpath(work)}:
        data = data.replace(prefix.encode(), b"<work>")
    return hashlib.sha256(data).hexdigest()


def _files(work: Path) -> dict[str, float]:
    skip = {"objs", "synth", "kernels", "raw"}
    return {str(p.relative_to(work)): p.stat().st_mtime_ns for p in work.rglob("*")
            if p.is_file() and p.relative_to(work).parts[0] not in skip}


def run(work: Path, only: list[str] | None = None) -> dict[str, dict[str, object]]:
    from btfembed.cli import main

    results: dict[str, dict[str, object]] = {}
    old = os.getcwd()
    os.chdir(work)
    try:
        for name, argv in cases(work):
            if only is not None and name not in only:
                continue
            before = _files(work)
            out, err = io.StringIO(), io.StringIO()
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                try:
                    rc = main(argv)
                except SystemExit as exc:  # argparse
                    rc = exc.code if isinstance(exc.code, int) else 2
            after = _files(work)
            written = sorted(p for p, t in after.items() if before.get(p) != t)
            results[name] = {
                "rc": rc,
                "stdout": _digest(out.getvalue().encode(), work),
                "stderr": _digest(err.getvalue().encode(), work),
                "files": {p: _digest((work / p).read_bytes(), work) for p in written},
            }
    finally:
        os.chdir(old)
    return results


def compute() -> dict[str, dict[str, object]]:
    with tempfile.TemporaryDirectory(prefix="btfembed-golden-") as tmp:
        work = Path(tmp)
        prepare(work)
        return run(work)


def load() -> dict[str, dict[str, object]]:
    cases: dict[str, dict[str, object]] = json.loads(GOLDEN.read_text())["cases"]
    return cases


def main(argv: list[str]) -> int:
    results = compute()
    doc = {"about": ABOUT, "cases": results}
    if GOLDEN.exists():
        doc["about"] = json.loads(GOLDEN.read_text()).get("about", ABOUT)
    text = json.dumps(doc, indent=1, sort_keys=True) + "\n"
    if "--update" in argv:
        GOLDEN.parent.mkdir(parents=True, exist_ok=True)
        GOLDEN.write_text(text)
        print(f"wrote {GOLDEN} ({len(results)} cases)")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
