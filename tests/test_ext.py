""".BTF.ext parsing on the clang-compiled corpus, and the corpus itself."""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from btfembed.inputs.elf import ElfFile
from btfembed.errors import ExtFormatError
from btfembed.inputs.ext import parse_ext
from btfembed.inputs.objects import load_object
from btfembed.btf.wire import FUNC

from conftest import OBJS, REPO

# CO-RE record counts per object (tests/data/README.md).
EXPECTED = {"tracer.el.o": 119, "tracer.eb.o": 122, "task_small.el.o": 4, "no_core.el.o": 0,
            "key_ref_fwd.el.o": 3, "kernel_c19.el.o": 15, "conntrack_mod.el.o": 8, "synth_fields.el.o": 27,
            "synth_bitfields.el.o": 69, "synth_bitfields.eb.o": 77, "synth_types.el.o": 26}


@pytest.mark.parametrize("name, count", sorted(EXPECTED.items()))
def test_core_record_counts(name: str, count: int) -> None:
    obj = load_object(str(OBJS / name))
    assert len(obj.relocations) == count
    assert obj.ext is not None and obj.ext.byte_order == obj.byte_order


@pytest.mark.parametrize("path", sorted(OBJS.glob("*.o")), ids=lambda p: p.name)
def test_records_refer_to_the_object(path: Path) -> None:
    obj = load_object(str(path))
    if not obj.has_ext:
        assert path.name == "task_small.nobtfext.el.o"
        return
    ext = obj.ext
    sections = set(ElfFile(path.read_bytes()).section_names())
    for f in ext.func_info:
        assert f.section in sections and obj.btf.kind(f.type_id) == FUNC and f.insn_off % 8 == 0
    for line in ext.line_info:
        assert line.section in sections
        assert obj.btf.strings.get(line.file_name_off).endswith(".bpf.c")
    for r in ext.core_relos:
        assert r.section in sections and 0 < r.type_id < obj.btf.type_cnt and 0 <= r.kind <= 12
        assert obj.program_at(r.section, r.insn_off) != r.section  # every record sits in a known function


def rebuild_ext(data: bytes, order: str, *, rec_size: int | None = None, hdr_len: int = 32) -> bytes:
    """Re-encode a .BTF.ext section with bigger records (zero padded) or a
    header without the CO-RE fields."""
    fmt = "<" if order == "little" else ">"
    magic, version, flags, old_hdr = struct.unpack_from(fmt + "HBBI", data, 0)
    offs = struct.unpack_from(fmt + "6I", data, 8)
    subsections = []
    for k, mins in ((0, 8), (1, 16), (2, 16)):
        off, length = offs[2 * k], offs[2 * k + 1]
        if k == 2 and hdr_len < 32 or not length:
            subsections.append(b"")
            continue
        blob = data[old_hdr + off:old_hdr + off + length]
        (size,) = struct.unpack_from(fmt + "I", blob, 0)
        new_size = rec_size or size
        out, pos = [struct.pack(fmt + "I", new_size)], 4
        while pos < len(blob):
            name, num = struct.unpack_from(fmt + "II", blob, pos)
            out.append(struct.pack(fmt + "II", name, num))
            for i in range(num):
                rec = blob[pos + 8 + i * size:pos + 8 + (i + 1) * size]
                out.append(rec[:new_size] + bytes(max(new_size - size, 0)))
            pos += 8 + num * size
        subsections.append(b"".join(out))
    body, fields, pos = b"", [], 0
    for s in subsections:
        fields += [pos, len(s)]
        body += s
        pos += len(s)
    head = struct.pack(fmt + "HBBI", magic, version, flags, hdr_len) + struct.pack(fmt + "4I", *fields[:4])
    if hdr_len >= 32:
        head += struct.pack(fmt + "2I", *fields[4:])
    return head + body


@pytest.mark.parametrize("name", ["tracer.el.o", "tracer.eb.o", "synth_bitfields.el.o"])
def test_larger_records_and_short_headers(name: str) -> None:
    data = (OBJS / name).read_bytes()
    obj = load_object(str(OBJS / name))
    raw = ElfFile(data).section_data(".BTF.ext")
    assert raw is not None
    wide = parse_ext(rebuild_ext(raw, obj.byte_order, rec_size=32), obj.btf.strings)
    assert wide.core_relos == obj.ext.core_relos and wide.func_info == obj.ext.func_info
    short = parse_ext(rebuild_ext(raw, obj.byte_order, hdr_len=24), obj.btf.strings)
    assert short.core_relos == () and not short.has_core_section and short.line_info == obj.ext.line_info
    with pytest.raises(ExtFormatError, match="record size"):
        parse_ext(rebuild_ext(raw, obj.byte_order, rec_size=12), obj.btf.strings)


@pytest.mark.parametrize("prog, target, suffix", [("task_small", "bpfel", "el"), ("synth_bitfields", "bpfeb", "eb")])
def test_checked_in_objects_are_what_clang_builds_from_the_sources(prog: str, target: str, suffix: str,
                                                                   tmp_path: Path) -> None:
    """The corpus is compiled in the test with the recorded flags and must
    match the checked-in copy byte for byte."""
    clang = shutil.which("clang")
    if clang is None or not Path("/usr/include/bpf/bpf_helpers.h").exists():
        pytest.skip("clang or libbpf headers not installed")
    out = tmp_path / f"{prog}.{suffix}.o"
    subprocess.run([clang, "-O2", "-g", "-Wall", f"-fdebug-prefix-map={REPO}=.", "-target", target,
                    "-D__TARGET_ARCH_x86", "-c", f"tests/data/progs/{prog}.bpf.c", "-o", str(out)],
                   cwd=REPO, check=True)
    built = load_object(str(out))
    kept = load_object(str(OBJS / f"{prog}.{suffix}.o"))
    assert built.relocations == kept.relocations
    assert out.read_bytes() == (OBJS / f"{prog}.{suffix}.o").read_bytes()
