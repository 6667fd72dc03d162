"""``btfembed build --executor dask://HOST:PORT``: a real dask.distributed
scheduler and two worker processes on 127.0.0.1, started here; the outputs
must be byte-identical to a local build."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest

from conftest import OBJS, REPO, REPO_KERNELS

OBJ_A = str(OBJS / "task_small.el.o")
OBJ_B = str(OBJS / "tracer.el.o")


def cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "btfembed", *args], capture_output=True, text=True, env=env)


def tree_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def dask_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    pytest.importorskip("distributed")
    port = free_port()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
               DASK_DISTRIBUTED__WORKER__DAEMON="False")
    logs = tmp_path_factory.mktemp("dask")
    procs: list[subprocess.Popen] = []
    files = []

    def log(name: str):  # type: ignore[no-untyped-def]
        files.append(open(logs / name, "w"))
        return files[-1]

    try:
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", str(port),
             "--no-dashboard"], stdout=subprocess.DEVNULL, stderr=log("scheduler.log"), env=env))
        for n in range(2):
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "distributed.cli.dask_worker", f"tcp://127.0.0.1:{port}", "--nworkers", "1",
                 "--nthreads", "1", "--no-dashboard", "--host", "127.0.0.1", "--name", f"w{n}",
                 "--local-directory", str(logs / f"w{n}")],
                stdout=subprocess.DEVNULL, stderr=log(f"worker{n}.log"), env=env))
        from distributed import Client
        deadline = time.monotonic() + 60
        while True:
            try:
                with Client(f"tcp://127.0.0.1:{port}", timeout=5) as c:
                    c.wait_for_workers(2, timeout=max(1, deadline - time.monotonic()))
                    break
            except (OSError, TimeoutError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        yield f"dask://127.0.0.1:{port}"
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in reversed(procs):
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        for f in files:
            f.close()


def test_dask_build_is_identical_to_a_local_build(tmp_path: Path, dask_cluster: str) -> None:
    from btfembed.build.cache import Cache
    from btfembed.build.kernels import discover
    from btfembed.build.pipeline import Options, load_object_inputs, run_build
    from btfembed.build.settings import KernelSpec

    common = [OBJ_A, OBJ_B, "--kernels", str(REPO_KERNELS), "-q"]
    local = cli("build", *common, "--out-dir", str(tmp_path / "local"), "--no-cache",
                "--report", str(tmp_path / "local.json"))
    assert local.returncode == 0, local.stderr
    remote = cli("build", *common, "--out-dir", str(tmp_path / "dask"), "--no-cache",
                 "--report", str(tmp_path / "dask.json"), "--executor", dask_cluster)
    assert remote.returncode == 0, remote.stderr
    assert tree_bytes(tmp_path / "local") == tree_bytes(tmp_path / "dask")
    assert (tmp_path / "local.json").read_bytes() == (tmp_path / "dask.json").read_bytes()
    # The work really ran on the workers, with their cache and store.
    kernels = discover([KernelSpec(str(REPO_KERNELS))])
    cache = Cache(str(tmp_path / "cache"))
    r = run_build(load_object_inputs([OBJ_A, OBJ_B]), kernels, options=Options(), cache=cache,
                  executor=dask_cluster)
    assert r.stats()["kernels_decoded"] == 3 and r.stats()["analyses_computed"] == 6
    assert all(k.error is None for k in r.kernels)
    changed = run_build(load_object_inputs([OBJ_A, str(OBJS / "kernel_c19.el.o")]), kernels, options=Options(),
                        cache=cache, executor=dask_cluster)
    assert changed.stats()["kernels_decoded"] == 0 and changed.stats()["analyses_computed"] == 3
    fresh = run_build(load_object_inputs([OBJ_A, str(OBJS / "kernel_c19.el.o")]), kernels, options=Options(),
                      cache=Cache(None), jobs=1)
    assert [k.blob for k in changed.kernels] == [k.blob for k in fresh.kernels]


def test_dask_executor_errors(tmp_path: Path) -> None:
    common = [OBJ_A, "--kernels", str(REPO_KERNELS), "--out-dir", str(tmp_path / "o"), "--no-cache", "-q"]
    proc = cli("build", *common, "--executor", "spark://x:1")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "dask://HOST:PORT" in proc.stderr
    # Nothing listens on this port.
    proc = cli("build", *common, "--executor", f"dask://127.0.0.1:{free_port()}")
    assert proc.returncode == 4 and proc.stderr.count("\n") == 1 and "cannot connect" in proc.stderr
    assert not (tmp_path / "o").exists()


def test_dask_missing_is_one_line(tmp_path: Path) -> None:
    # A Python that cannot import distributed (a blocking import hook).
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(
        "import sys\n"
        "class _Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('distributed', 'dask'):\n"
        "            raise ImportError(name)\n"
        "sys.meta_path.insert(0, _Block())\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(hook), str(REPO)]))
    proc = cli("build", OBJ_A, "--kernels", str(REPO_KERNELS), "--out-dir", str(tmp_path / "o"), "--no-cache",
               "-q", "--executor", "dask://127.0.0.1:8786", env=env)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert "pip install 'btfembed[dask]'" in proc.stderr


def test_build_help_dask_example_runs_as_written(dask_cluster: str, tmp_path: Path) -> None:
    """The ``--executor dask://scheduler:8786`` example of ``build --help``,
    as written but for the scheduler's address, in a scratch directory
    holding files of the names it uses; its outputs equal a local build's."""
    import io
    import lzma
    import shlex
    import shutil
    import tarfile

    from btfembed.cli.build import HELP

    line = next(x.split("  #")[0].strip() for x in HELP.split("examples:", 1)[1].splitlines() if "dask://" in x)
    archive = tmp_path / "btfhub-archive" / "debian" / "12" / "x86_64"
    archive.mkdir(parents=True)
    raw = lzma.decompress((REPO_KERNELS / "debian_12_x86_64_6.1.0-50-amd64.btf.xz").read_bytes())
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("6.1.0-50-amd64.btf")
        info.size = len(raw)
        tar.addfile(info, io.BytesIO(raw))
    (archive / "6.1.0-50-amd64.btf.tar.xz").write_bytes(lzma.compress(buf.getvalue()))
    shutil.copy(REPO / "examples" / "c-loader" / "task_report.bpf.o", tmp_path / "prog.bpf.o")
    argv = shlex.split(line.replace("dask://scheduler:8786", dask_cluster))
    assert argv[0] == "btfembed" and dask_cluster in argv
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path / "cache"),
               PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    proc = subprocess.run([sys.executable, "-m", "btfembed", *argv[1:]], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    local = subprocess.run([sys.executable, "-m", "btfembed", "build", "prog.bpf.o", "--kernels", "btfhub-archive",
                            "--out-dir", "local", "--no-cache", "-q"], cwd=tmp_path, env=env,
                           capture_output=True, text=True, timeout=300)
    assert local.returncode == 0, local.stderr
    from btfembed.build.settings import Settings
    out = Settings().out_dir if "--out-dir" not in argv else argv[argv.index("--out-dir") + 1]
    assert tree_bytes(tmp_path / out) == tree_bytes(tmp_path / "local")


def test_dask_workers_do_not_keep_results(tmp_path: Path, dask_cluster: str) -> None:
    """Each result is released on the cluster once the build has it: the
    workers hold a few results at any moment, not every kernel's (a build
    over thousands of kernels would otherwise grow the workers without
    bound)."""
    from distributed import Client

    from btfembed.build.cache import Cache
    from btfembed.build.kernels import KernelInput
    from btfembed.build.pipeline import Options, load_object_inputs, run_build
    from btfembed.embed.keys import KernelKey

    small = str(REPO_KERNELS / "cilium-testdata_2019-11_x86_64_5.3-approx.btf.xz")
    kernels = [KernelInput(KernelKey("x86_64", "u", str(n), "5.3"), small, small) for n in range(20)]
    held: list[int] = []
    with Client(dask_cluster.replace("dask://", "tcp://"), timeout=30) as probe:
        def count() -> int:
            return sum(probe.run(lambda dask_worker: len(dask_worker.data)).values())

        before = count()

        def progress(_r: object, done: int, total: int) -> None:
            if done == total:
                held.append(count())

        r = run_build(load_object_inputs([OBJ_A]), kernels, options=Options(), cache=Cache(None),
                      executor=dask_cluster, progress=progress)
    assert all(k.error is None for k in r.kernels) and len(held) == 1
    # When the last result arrives, the workers hold what they held before,
    # the build's own entries (the scattered context, ...: about 9) and the
    # results still being released; kept results would add 20 more.
    assert held[0] - before <= 16, (before, held)
