"""Generated benchmark inputs: BPF objects with very many CO-RE records.

* ``generated_source(n)``: C for an object with at least ``n`` relocations,
  like real tracing tools: many programs reading the same few dozen kernel
  fields, types and enumerators (field offsets, sizes, existence,
  signedness, type existence/size/id, enumerator values).  ``compile_object``
  builds it with clang.
* ``repeat_records(elf, count)``: a copy of a compiled object whose
  ``.BTF.ext`` holds ``count`` identical copies of one CO-RE record (and
  nothing else), built in Python, for objects beyond what a compiler
  produces in reasonable time.

Not part of the package: used by the benchmarks and the tests.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

__all__ = ["generated_source", "compile_object", "repeat_records", "PER_PROGRAM"]

_PRELUDE = """\
/* Generated: many programs repeating the same CO-RE relocations. */
typedef unsigned char __u8; typedef unsigned short __u16; typedef unsigned int __u32;
typedef unsigned long long __u64; typedef signed char __s8; typedef short __s16; typedef int __s32;
typedef long long __s64; typedef __u16 __be16; typedef __u32 __be32; typedef __u32 __wsum;
#define __VMLINUX_H__ 1
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#define __pai __attribute__((preserve_access_index))
typedef struct { unsigned int val; } __pai kuid_t;
struct cred { kuid_t uid; kuid_t gid; kuid_t euid; unsigned int securebits; } __pai;
struct mm_struct { unsigned long task_size; unsigned long start_code; unsigned long end_code;
                   unsigned long start_data; unsigned long arg_start; unsigned long env_start; } __pai;
struct file { unsigned int f_flags; unsigned int f_mode; long long f_pos; } __pai;
struct task_struct { int pid; int tgid; unsigned int flags; int prio; int static_prio; int normal_prio;
                     int exit_code; int exit_signal; char comm[16]; struct task_struct *real_parent;
                     struct task_struct *parent; struct mm_struct *mm; const struct cred *cred; } __pai;
enum pid_type { PIDTYPE_PID, PIDTYPE_TGID, PIDTYPE_PGID, PIDTYPE_SID, PIDTYPE_MAX };
char LICENSE[] SEC("license") = "GPL";
"""

_FIELDS = {
    "t": ["pid", "tgid", "flags", "prio", "static_prio", "normal_prio", "exit_code", "exit_signal", "comm",
          "real_parent", "parent", "mm", "cred"],
    "m": ["task_size", "start_code", "end_code", "start_data", "arg_start", "env_start"],
    "c": ["uid", "gid", "euid", "securebits", "uid.val"],
    "f": ["f_flags", "f_mode", "f_pos"],
}


def _reads() -> list[str]:
    out = []
    for var, fields in _FIELDS.items():
        for i, field in enumerate(fields):
            out.append(f"bpf_core_field_offset({var}->{field})")
            out.append(f"bpf_core_field_exists({var}->{field})")
            if i % 2 == 0:
                out.append(f"bpf_core_field_size({var}->{field})")
            if field in ("pid", "flags", "f_pos", "securebits"):
                out.append(f"__builtin_preserve_field_info({var}->{field}, BPF_FIELD_SIGNED)")
    for struct_name in ("task_struct", "mm_struct", "cred", "file"):
        out.append(f"bpf_core_type_exists(struct {struct_name})")
        out.append(f"bpf_core_type_size(struct {struct_name})")
    out.append("bpf_core_type_id_kernel(struct task_struct)")
    for value in ("PIDTYPE_PID", "PIDTYPE_TGID", "PIDTYPE_SID"):
        out.append(f"bpf_core_enum_value_exists(enum pid_type, {value})")
        out.append(f"bpf_core_enum_value(enum pid_type, {value})")
    return out


PER_PROGRAM = len(_reads())  # relocations per generated program


def generated_source(relocations: int) -> str:
    """C source of an object with at least ``relocations`` CO-RE records."""
    reads = _reads()
    programs = -(-relocations // len(reads))
    parts = [_PRELUDE]
    for p in range(programs):
        body = "".join(f"    s += {r};\n" for r in reads)
        parts.append(f'SEC("tp/sched/p{p}")\nint prog{p}(void *ctx)\n{{\n'
                     "    struct task_struct *t = (void *)bpf_get_current_task();\n"
                     "    struct mm_struct *m = (void *)t;\n    const struct cred *c = (void *)t;\n"
                     "    struct file *f = (void *)t;\n    unsigned long s = 0;\n"
                     f"{body}    return s;\n}}\n")
    return "".join(parts)


def compile_object(relocations: int, out: Path, include: str = "/usr/include") -> Path:
    """Write and compile ``generated_source(relocations)`` to ``out``."""
    clang = shutil.which("clang")
    if clang is None:
        raise FileNotFoundError("clang")
    src = out.with_suffix(".c")
    src.write_text(generated_source(relocations))
    subprocess.run([clang, "-O2", "-g", "-target", "bpf", "-I", include, "-c", str(src), "-o", str(out)],
                   check=True)
    return out


def _sections(elf: bytes) -> tuple[str, list[list[int]], int, dict[str, int]]:
    if elf[:4] != b"\x7fELF" or elf[4] != 2:
        raise ValueError("not a 64-bit ELF file")
    e = "<" if elf[5] == 1 else ">"
    shoff, = struct.unpack_from(e + "Q", elf, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from(e + "HHH", elf, 0x3A)
    fmt = e + "IIQQQQIIQQ"
    headers = [list(struct.unpack_from(fmt, elf, shoff + i * shentsize)) for i in range(shnum)]
    strtab_off, strtab_size = headers[shstrndx][4], headers[shstrndx][5]
    strtab = elf[strtab_off:strtab_off + strtab_size]
    names = {strtab[h[0]:strtab.index(b"\0", h[0])].decode(): i for i, h in enumerate(headers)}
    return e, headers, shoff, names


def repeat_records(elf: bytes, count: int, record: int = 0) -> bytes:
    """``elf`` with a ``.BTF.ext`` of ``count`` copies of its CO-RE record
    number ``record`` (func_info and line_info dropped)."""
    e, headers, shoff, names = _sections(elf)
    h = headers[names[".BTF.ext"]]
    ext = elf[h[4]:h[4] + h[5]]
    hdr_len, = struct.unpack_from(e + "I", ext, 4)
    core_off, core_len = struct.unpack_from(e + "II", ext, 24)
    base = hdr_len + core_off
    rec_size, = struct.unpack_from(e + "I", ext, base)
    name_off, num = struct.unpack_from(e + "II", ext, base + 4)
    if record >= num:
        raise ValueError("no such record in the first block")
    rec = ext[base + 12 + record * rec_size:base + 12 + (record + 1) * rec_size]
    core = struct.pack(e + "III", rec_size, name_off, count) + rec * count
    new_ext = struct.pack(e + "HBBIIIIIII", 0xEB9F, 1, 0, 32, 0, 0, 0, 0, 0, len(core)) + core
    # Append the new section contents and the section headers after them.
    out = bytearray(elf)
    out += b"\0" * (-len(out) % 8)
    new_off = len(out)
    out += new_ext
    out += b"\0" * (-len(out) % 8)
    h[4], h[5] = new_off, len(new_ext)
    new_shoff = len(out)
    for hdr in headers:
        out += struct.pack(e + "IIQQQQIIQQ", *hdr)
    struct.pack_into(e + "Q", out, 0x28, new_shoff)
    return bytes(out)
