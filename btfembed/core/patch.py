"""Patching one instruction with a relocation result (libbpf ``bpf_core_patch_insn``).

Works on raw instruction bytes so results can be compared with what libbpf
loads.  ``insn`` holds the instruction (16 bytes for LD_IMM64).
"""

from __future__ import annotations

import struct

from btfembed.core.calc import POISON_HELPER_ID, Values
from btfembed.errors import PatchError

__all__ = ["patch_insn", "PatchError"]

_CLASS_LD, _CLASS_LDX, _CLASS_ST, _CLASS_STX, _CLASS_ALU, _CLASS_JMP, _CLASS_ALU64 = 0, 1, 2, 3, 4, 5, 7
_SIZE_BYTES = {0x18: 8, 0x00: 4, 0x08: 2, 0x10: 1}   # BPF_DW, BPF_W, BPF_H, BPF_B
_BYTES_SIZE = {v: k for k, v in _SIZE_BYTES.items()}
_LD_IMM64 = 0x18  # BPF_LD | BPF_IMM | BPF_DW
_CALL = 0x85      # BPF_JMP | BPF_CALL


def _unpack(insn: bytes, order: str) -> tuple[int, int, int, int, str]:
    fmt = "<" if order == "little" else ">"
    code, regs, off, imm = struct.unpack_from(fmt + "BBhi", insn)
    return code, regs, off, imm, fmt


def _poison(fmt: str) -> bytes:
    return struct.pack(fmt + "BBhi", _CALL, 0, 0, POISON_HELPER_ID)


def patch_insn(insn: bytes, res: Values, order: str = "little") -> bytes:
    """The instruction after applying ``res``; raises ``PatchError``."""
    code, regs, off, imm, fmt = _unpack(insn, order)
    cls = code & 0x07
    if res.poison:
        return _poisoned(insn, code, fmt)
    if cls in (_CLASS_ALU, _CLASS_ALU64):
        if code & 0x08:  # BPF_X source
            raise PatchError("ALU instruction with a register source")
        if res.validate and (imm & 0xFFFFFFFF) != res.orig_val:
            raise PatchError(f"unexpected ALU value {imm & 0xFFFFFFFF}, expected {res.orig_val}")
        return struct.pack(fmt + "BBhi", code, regs, off, _s32(res.new_val)) + insn[8:]
    if cls in (_CLASS_LDX, _CLASS_ST, _CLASS_STX):
        if res.validate and (off & 0xFFFF) != res.orig_val:
            raise PatchError(f"unexpected memory offset {off}, expected {res.orig_val}")
        if res.new_val > 0x7FFF:
            raise PatchError(f"offset {res.new_val} does not fit in 16 bits")
        if res.fail_memsz_adjust:
            return _poisoned(insn, code, fmt)
        if res.new_sz != res.orig_sz:
            if _SIZE_BYTES.get(code & 0x18) != res.orig_sz:
                raise PatchError(f"unexpected memory size, expected {res.orig_sz}")
            if res.new_sz not in _BYTES_SIZE:
                raise PatchError(f"invalid new memory size {res.new_sz}")
            code = (code & 0xE0) | _BYTES_SIZE[res.new_sz] | cls
        return struct.pack(fmt + "BBhi", code, regs, res.new_val, imm) + insn[8:]
    if cls == _CLASS_LD:
        if code != _LD_IMM64 or len(insn) < 16:
            raise PatchError("LD instruction that is not a 64-bit immediate load")
        code2, regs2, off2, imm2, _ = _unpack(insn[8:], order)
        if (regs >> 4) != 0 or off != 0 or code2 != 0 or regs2 != 0 or off2 != 0:
            raise PatchError("LD_IMM64 with an unexpected form")
        value = (imm & 0xFFFFFFFF) | ((imm2 & 0xFFFFFFFF) << 32)
        if res.validate and value != res.orig_val:
            raise PatchError(f"unexpected 64-bit immediate {value}, expected {res.orig_val}")
        lo, hi = res.new_val & 0xFFFFFFFF, (res.new_val >> 32) & 0xFFFFFFFF
        return (struct.pack(fmt + "BBhi", code, regs, off, _s32(lo))
                + struct.pack(fmt + "BBhi", code2, regs2, off2, _s32(hi)) + insn[16:])
    raise PatchError(f"cannot relocate instruction with opcode {code:#04x}")


def _poisoned(insn: bytes, code: int, fmt: str) -> bytes:
    if code == _LD_IMM64 and len(insn) >= 16:
        return _poison(fmt) + _poison(fmt) + insn[16:]
    return _poison(fmt) + insn[8:]


def _s32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v >> 31 else v
