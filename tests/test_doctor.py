"""``btfembed doctor`` on this host: its own BTF against a blob minimized
from it (no difference) and against another kernel's blob (differences,
exit 1); the stale-object guard, no match, and the decision lines."""

from __future__ import annotations

from pathlib import Path

import pytest

from btfembed.cli import main
from btfembed.embed.keys import KernelKey
from btfembed.embed.pack import build_pack, object_digest, write_pack

from test_runtime_rules import DEBIAN, ENV_VARS, minimized

REPO = Path(__file__).resolve().parent.parent
OBJ = REPO / "examples" / "c-loader" / "task_report.bpf.o"
OTHER = REPO / "tests" / "data" / "objs" / "task_small.el.o"
VMLINUX = Path("/sys/kernel/btf/vmlinux")
HOST_KEY = "myos/1/x86_64/host-kernel"
WRONG_KEY = "debian/12/x86_64/6.1.0-50-amd64"


@pytest.fixture(autouse=True)
def no_env(monkeypatch) -> None:
    for var in ENV_VARS + ("BTFEMBED_KEY", "BTFEMBED_HOST_ROOT", "BTFEMBED_DEBUG"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture(scope="module")
def pack_file(tmp_path_factory) -> Path:
    if not VMLINUX.exists():
        pytest.skip("needs /sys/kernel/btf/vmlinux")
    items = [(KernelKey("x86_64", "myos", "1", "host-kernel"), minimized(str(VMLINUX), str(OBJ))),
             (KernelKey("x86_64", "debian", "12", "6.1.0-50-amd64"), minimized(str(DEBIAN), str(OBJ)))]
    path = tmp_path_factory.mktemp("doctor") / "p.pack"
    write_pack(str(path), build_pack(items, [(OBJ.name, object_digest(OBJ.read_bytes()))]))
    return path


def test_own_blob_has_no_difference(pack_file: Path, capsys) -> None:
    assert main(["doctor", str(pack_file), str(OBJ), "--key", HOST_KEY]) == 0
    out = capsys.readouterr().out
    assert "runtime decision here: kernel-btf" in out
    assert f"key: {HOST_KEY} (from key option)" in out
    assert f"match=exact entry={HOST_KEY} sha256=" in out
    assert f"object {OBJ}: built for this object" in out
    assert "relocations: 4 resolved against the chosen blob and /sys/kernel/btf/vmlinux: 0 different" in out


def test_wrong_blob_is_reported(pack_file: Path, capsys) -> None:
    assert main(["doctor", str(pack_file), str(OBJ), "--key", WRONG_KEY]) == 1
    cap = capsys.readouterr()
    assert "4 different" in cap.out and cap.out.count("DIFFERENT: ") == 4
    assert "struct task_struct.pid" in cap.out and "resolve differently" in cap.err


def test_env_key_and_stale_object(pack_file: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("BTFEMBED_KEY", HOST_KEY)
    assert main(["doctor", str(pack_file), str(OTHER)]) == 1
    out = capsys.readouterr().out
    assert "from BTFEMBED_KEY" in out and f"object {OTHER}: STALE" in out


def test_no_entry_for_this_host(pack_file: Path, tmp_path: Path, capsys) -> None:
    root = tmp_path / "host"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "os-release").write_text("ID=nowhere\nVERSION_ID=0\n")
    assert main(["doctor", str(pack_file), str(OBJ), "--host-root", str(root)]) == 1
    out = capsys.readouterr().out
    assert f"(from {root}/etc/os-release, uname)" in out
    assert "match=none entry=- sha256=- status=no-match" in out and "nothing to compare" in out


def test_bad_pack(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad.pack"
    bad.write_bytes(b"BTFEMBED-PACK\n" + bytes(100))
    assert main(["doctor", str(bad)]) == 3
    assert "not a valid btfembed pack" in capsys.readouterr().err
