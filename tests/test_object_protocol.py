"""Minimization takes the ``CoreObject`` protocol: an object built from
bytes and records (``ObjectData``) minimizes exactly like the ELF-backed
``BpfObject``, in a process where no ELF code (``btfembed.inputs``,
pyelftools) can be imported."""

from __future__ import annotations

import lzma
import pickle
import subprocess
import sys
from pathlib import Path

import btfembed
from btfembed.core.objects import CoreObject, ObjectData

from conftest import OBJS, REPO, REPO_KERNELS

KERNEL = REPO_KERNELS / "debian_12_x86_64_6.1.0-50-amd64.btf.xz"

CHILD = r"""
import pickle, sys

class Refuse:
    def find_spec(self, name, path=None, target=None):
        if name.startswith(("btfembed.inputs", "elftools")):
            raise ImportError(f"{name} may not be imported here")
        return None

sys.meta_path.insert(0, Refuse())
from btfembed.btf.reader import BTF
from btfembed.core.objects import ObjectData
from btfembed.core.resolve import Target
from btfembed.minimize.engine import minimize

data = pickle.loads(sys.stdin.buffer.read())
objects = [ObjectData(BTF(o["btf"]), o["records"], byte_order=o["byte_order"], programs=o["programs"],
                      source=o["source"]) for o in data["objects"]]
with open(data["kernel"], "rb") as f:
    kernel = BTF(f.read())
result = minimize(objects, Target(kernel))
loaded = sorted(m for m in sys.modules if m.startswith(("btfembed.inputs", "elftools")))
assert not loaded, loaded
sys.stdout.buffer.write(pickle.dumps((result.data, result.summaries, result.level)))
"""


def plain(obj: btfembed.BpfObject) -> dict[str, object]:
    return {"btf": obj.btf.raw, "records": list(obj.relocations), "byte_order": obj.byte_order,
            "programs": [(p.section, p.offset, p.size, p.name) for p in obj.programs()], "source": obj.source}


def test_minimize_runs_on_plain_data_without_elf_code(tmp_path: Path) -> None:
    raw = tmp_path / "vmlinux.btf"
    raw.write_bytes(lzma.decompress(KERNEL.read_bytes()))
    paths = [OBJS / "task_small.el.o", OBJS / "tracer.el.o", OBJS / "conntrack_mod.eb.o"]
    objs = [btfembed.open_object(str(p)) for p in paths]
    want = btfembed.minimize(objs, btfembed.open_btf(str(raw)))
    payload = pickle.dumps({"objects": [plain(o) for o in objs], "kernel": str(raw)})
    proc = subprocess.run([sys.executable, "-c", CHILD], input=payload, capture_output=True, cwd=REPO)
    assert proc.returncode == 0, proc.stderr.decode()
    data, summaries, level = pickle.loads(proc.stdout)
    assert data == want.data and level == want.level
    assert [list(s) for s in summaries] == [list(s) for s in want.summaries]
    assert any(s.program != s.section for sums in summaries for s in sums)  # program names were used


def test_object_data_and_bpf_object_satisfy_the_protocol() -> None:
    obj = btfembed.open_object(str(OBJS / "task_small.el.o"))
    same = ObjectData(obj.btf, obj.relocations, byte_order=obj.byte_order,
                      programs=[(p.section, p.offset, p.size, p.name) for p in obj.programs()])
    for o in (obj, same):
        checked: CoreObject = o   # mypy checks the protocol here
        assert checked.relocations
    for rec in obj.relocations:
        assert same.program_at(rec.section, rec.insn_off) == obj.program_at(rec.section, rec.insn_off)
    assert same.program_at("no-such-section", 0) == "no-such-section"
    assert [repr(s) for s in same.specs] == [repr(s) for s in obj.specs]
