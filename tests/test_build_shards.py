"""``btfembed build --shard K/N`` and ``btfembed merge``: the merged
outputs (BTFHub tree, pack, JSON and HTML reports, generated sources) are
byte-identical to one unsharded build; bad partial sets are refused."""

from __future__ import annotations

import gzip
import subprocess
import sys
from pathlib import Path

import pytest

from btfembed.build.kernels import discover
from btfembed.build.settings import KernelSpec
from btfembed.build.shards import parse_shard, select_shard, shard_of
from btfembed.errors import ConfigError

from conftest import OBJS, REPO_KERNELS

OBJ_A = str(OBJS / "task_small.el.o")
OBJ_B = str(OBJS / "tracer.el.o")


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "btfembed", *args], capture_output=True, text=True, cwd=cwd)


def ok(proc: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert proc.returncode == 0, proc.stderr
    return proc


def tree_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


OUTPUTS = ("out", "report.json", "report.html", "gen")


def outputs(d: Path) -> dict[str, bytes]:
    return tree_bytes(d)


def out_args(d: Path) -> list[str]:
    return ["--out-dir", str(d / "out"), "--report", str(d / "report.json"), "--html", str(d / "report.html"),
            "--emit", "c", "--output", str(d / "gen" / "min_btf"), "--prefix", "demo", "-q"]


def test_shard_selection_is_a_partition() -> None:
    kernels = discover([KernelSpec(str(REPO_KERNELS))])
    for n in (1, 2, 3, 5):
        parts = [select_shard(kernels, k, n)[0] for k in range(1, n + 1)]
        assert sorted((k for p in parts for k in p), key=lambda k: k.key) == kernels
        assert all(shard_of(k.key, n) == i + 1 for i, p in enumerate(parts) for k in p)
    # Stable: a shard's kernels do not depend on the rest of the list.
    assert select_shard(kernels[:2], 2, 3)[0] == [k for k in select_shard(kernels, 2, 3)[0] if k in kernels[:2]]
    assert parse_shard("2/4") == (2, 4)
    for bad in ("0/4", "5/4", "1", "a/b", "1/0"):
        with pytest.raises(ConfigError):
            parse_shard(bad)


# With the in-repo kernels, 2 shards leave one empty, 3 split them 1 + 2.
@pytest.mark.parametrize("n", [2, 3])
def test_merge_is_byte_identical_to_one_build(tmp_path: Path, n: int) -> None:
    kernels = ["--kernels", str(REPO_KERNELS)]
    whole = tmp_path / "whole"
    ok(cli("build", OBJ_A, OBJ_B, *kernels, "--no-cache", "-j", "1", *out_args(whole)))
    parts = tmp_path / "parts"
    for k in range(1, n + 1):
        proc = ok(cli("build", OBJ_B, OBJ_A, *kernels, "--no-cache", "--shard", f"{k}/{n}", "--out-dir", str(parts),
                      "-j", "2"))
        assert f"shard {k}/{n}" in proc.stdout
    files = sorted(parts.iterdir())
    assert [f.name for f in files] == [f"shard-{k}-of-{n}.btfembed-partial" for k in range(1, n + 1)]
    merged = tmp_path / "merged"
    ok(cli("merge", *map(str, reversed(files)), *out_args(merged)))
    a, b = outputs(whole), outputs(merged)
    assert a == b
    assert {"out/btfembed.pack", "report.json", "report.html", "gen/min_btf.c", "gen/min_btf.h"} <= set(a)
    # The same shard gives the same partial bytes.
    again = tmp_path / "again"
    ok(cli("build", OBJ_A, OBJ_B, *kernels, "--no-cache", "--shard", f"1/{n}", "--out-dir", str(again), "-q"))
    assert (again / files[0].name).read_bytes() == files[0].read_bytes()


def test_merge_refuses_bad_sets(tmp_path: Path) -> None:
    kernels = ["--kernels", str(REPO_KERNELS), "--no-cache", "-q"]
    for k in (1, 2):
        ok(cli("build", OBJ_A, *kernels, "--shard", f"{k}/2", "--out-dir", str(tmp_path / "p")))
    ok(cli("build", OBJ_B, *kernels, "--shard", "2/2", "--out-dir", str(tmp_path / "other")))
    ok(cli("build", OBJ_A, *kernels, "--shard", "1/3", "--out-dir", str(tmp_path / "three")))
    p1, p2 = tmp_path / "p" / "shard-1-of-2.btfembed-partial", tmp_path / "p" / "shard-2-of-2.btfembed-partial"
    damaged = tmp_path / "damaged.partial"
    doc = bytearray(gzip.decompress(p2.read_bytes()))
    doc[len(doc) // 2] ^= 1
    damaged.write_bytes(gzip.compress(bytes(doc)))
    garbage = tmp_path / "garbage.partial"
    garbage.write_bytes(b"not a partial")
    cases = [
        ([p1], "missing shard(s) 2/2"),
        ([p1, p1], "given twice"),
        ([p1, tmp_path / "other" / "shard-2-of-2.btfembed-partial"], "different objects"),
        ([p1, tmp_path / "three" / "shard-1-of-3.btfembed-partial"], "different shard count"),
        ([p1, damaged], "damaged"),
        ([p1, garbage], "not a readable btfembed partial"),
        ([p1, tmp_path / "nope.partial"], "nope.partial"),
    ]
    for files, message in cases:
        out = tmp_path / "out"
        proc = cli("merge", *map(str, files), "--out-dir", str(out))
        assert proc.returncode in (3, 4), (files, proc.stderr)
        assert proc.stderr.count("\n") == 1 and message in proc.stderr, proc.stderr
        assert not out.exists()
    ok(cli("merge", str(p2), str(p1), "--out-dir", str(tmp_path / "good"), "-q"))


def test_readme_matrix_example_runs(tmp_path: Path) -> None:
    """The README's GitHub Actions matrix: its shard and merge commands,
    with the in-repo kernels and objects, give an unsharded build's outputs."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    block = readme.split("A GitHub Actions matrix")[1].split("```yaml")[1].split("```")[0]
    runs = [line.split("- run: ", 1)[1] for line in block.splitlines() if "- run: btfembed" in line]
    assert len(runs) == 2 and "--shard ${{ matrix.shard }}/4" in runs[0] and runs[1].startswith("btfembed merge")
    objs = tmp_path / "build"
    objs.mkdir()
    for o in (OBJ_A, OBJ_B):
        (objs / Path(o).name.replace(".el.o", ".bpf.o")).write_bytes(Path(o).read_bytes())
    (tmp_path / "btfhub-archive").symlink_to(REPO_KERNELS)
    import glob
    import shlex

    def argv(command: str) -> list[str]:
        words = shlex.split(command)
        assert words[0] == "btfembed"
        out: list[str] = []
        for w in words[1:]:
            out += sorted(glob.glob(str(tmp_path / w))) if "*" in w else [w]
        return out

    for shard in (1, 2, 3, 4):
        ok(cli(*argv(runs[0].replace("${{ matrix.shard }}", str(shard))), "--no-cache", cwd=tmp_path))
    ok(cli(*argv(runs[1]), cwd=tmp_path))
    ok(cli("build", *sorted(map(str, objs.iterdir())), "--kernels", "btfhub-archive", "--out-dir", "whole",
           "--report", "whole/report.json", "--no-cache", cwd=tmp_path))
    assert tree_bytes(tmp_path / "out") == tree_bytes(tmp_path / "whole")
