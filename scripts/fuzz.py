#!/usr/bin/env python3
"""Fuzz btfembed's input handling: every input must either be accepted or
raise btfembed's own error type (``BTFEmbedError``), within a time limit.

Targets (``--list`` prints them):

==============  =============================================================
``btf``         raw BTF: mutated real and synthetic BTF, then every reader
                entry point (validate, type, name lookups, size resolution,
                dump, re-encoding)
``btf_gen``     structure-aware random BTF built with ``writer.Builder`` (all
                kinds, unknown kinds with a layout section, both byte orders,
                dangling and cyclic references), run like ``btf``
``btf_split``   mutated module (split) BTF on top of a real kernel
``ext``         mutated ``.BTF.ext`` sections of the test objects
``elf``         mutated BPF objects (``objects.BpfObject``), then the CO-RE
                engine on the object's own BTF
``unwrap``      ``sources.unwrap`` on mutated xz/gzip/bzip2/tar data (unsafe
                member paths, links, huge declared sizes, bombs)
``pack``        ``pack.decode_pack`` on mutated packs (binary and JSON level)
``os_release``  ``keys.parse_os_release`` on generated text
``access``      ``core.spec.parse_access``/``parse_spec`` on access strings
``settings``    generated ``btfembed.toml`` / ``pyproject.toml`` files
``manifest``    generated kernel manifests (``.tsv``, ``.toml``)
``core``        a real object minimized against a mutated kernel BTF
                (``minimize``, compat mode, explain output, verify)
``core_gen``    generated objects (random local BTF and CO-RE records) against
                generated or mutated target BTF, run like ``core``
``core_module`` objects against a kernel plus mutated module (split) BTF
==============  =============================================================

Besides "returns or raises BTFEmbedError", an error's text must be one line
(the command line prints it as its single line on stderr), and parsed BTF
that validates must re-encode to the same types.

Inputs are generated with seeded ``random`` (input *i* uses its own
generator, so ``--target T --index I`` reproduces one input).  Every failing
input is written to ``tests/data/fuzz/<target>/<digest>.bin``; the default
test run replays every file there (``tests/test_fuzz.py``).

With atheris installed, ``--atheris TARGET`` runs the target's check under
libFuzzer instead (remaining arguments go to libFuzzer).

Per target the summary counts inputs *accepted* (the check ran to its end;
steps inside it may still have refused the input), *refused* (a
BTFEmbedError stopped it) and *failed*.

Ctrl-C (SIGINT) or SIGTERM stops the run early; the summary then covers the
inputs tried so far.

Exit status: 0 when no input failed, 1 otherwise (130 when interrupted
without failures).
"""

from __future__ import annotations

import argparse
import bz2
import collections
import contextlib
import gzip
import hashlib
import io
import json
import lzma
import os
import random
import signal
import struct
import sys
import tarfile
import threading
import time
import traceback
from pathlib import Path
from typing import Callable, Iterator, NamedTuple

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from btfembed.btf import wire  # noqa: E402
from btfembed.btf.reader import BTF  # noqa: E402
from btfembed.core.resolve import Target as CoreTarget  # noqa: E402
from btfembed.core.resolve import parse_local_specs  # noqa: E402
from btfembed.core.spec import format_spec, parse_access, parse_spec  # noqa: E402
from btfembed.btf.dump import dump  # noqa: E402
from btfembed.inputs.elf import ElfFile  # noqa: E402
from btfembed.errors import BTFEmbedError  # noqa: E402
from btfembed.inputs.ext import parse_ext  # noqa: E402
from btfembed.embed.keys import KernelKey, normalize_arch, parse_os_release  # noqa: E402
from btfembed.minimize.engine import minimize, summarize_object  # noqa: E402
from btfembed.inputs.objects import BpfObject  # noqa: E402
from btfembed.embed.pack import MAGIC as PACK_MAGIC  # noqa: E402
from btfembed.embed.pack import build_pack, decode_pack, encode_pack  # noqa: E402
from btfembed.inputs.containers import unwrap  # noqa: E402
from btfembed.btf.strings import StringTable, essential_name  # noqa: E402
from btfembed.btf.types import DeclTag, Type, Var, VarSecinfo, make_info  # noqa: E402
from btfembed.btf.types import Datasec as DatasecT  # noqa: E402
from btfembed.core.results import compare, describe  # noqa: E402
from btfembed.btf.writer import Builder, roundtrip  # noqa: E402

DATA = REPO / "tests" / "data"
OBJS = DATA / "objs"
SYNTH = DATA / "synth"
KERNELS = DATA / "kernels"
FUZZ_DIR = DATA / "fuzz"

DEFAULT_TIMEOUT = 10.0
UNWRAP_LIMIT = 4 << 20      # decompression cap used by the unwrap target
MAX_IDS = 3000               # ids exercised per BTF (bounded work per input)


# ---------------------------------------------------------------------------
# Running one input


class Hang(BaseException):
    """Raised by the alarm when one input runs too long.  A BaseException so
    that ``except Exception`` in the code under test cannot swallow it."""


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise ``Hang`` in the main thread after ``seconds`` (no-op elsewhere)."""
    if seconds <= 0 or threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_alarm(signum, frame):
        raise Hang(f"no result after {seconds:g} s")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


class Failure(NamedTuple):
    kind: str        # exception class name, or "hang"
    message: str
    where: str       # innermost btfembed frame ("file:line in func")
    trace: str

    @property
    def signature(self) -> str:
        return f"{self.kind} at {self.where}"


def _where(tb) -> str:
    frames = traceback.extract_tb(tb)
    ours = [f for f in frames if "btfembed" in f.filename.replace("\\", "/").split("/")]
    f = (ours or frames or [None])[-1]
    if f is None:
        return "?"
    return f"{os.path.relpath(f.filename, REPO)}:{f.lineno} in {f.name}"


def classify(run: Callable[[bytes], None], data: bytes,
             timeout: float = DEFAULT_TIMEOUT) -> tuple[str, Failure | None]:
    """Run one input: ("accepted", None) when ``run`` returned, ("refused",
    None) when it raised a BTFEmbedError, ("failed", failure) otherwise."""
    try:
        with time_limit(timeout):
            run(data)
    except BTFEmbedError as exc:
        try:
            check_message(exc)
        except BadMessage as bad:
            return "failed", _bad_message(bad)
        return "refused", None
    except BadMessage as bad:
        return "failed", _bad_message(bad)
    except Hang as exc:
        return "failed", Failure("hang", str(exc), _where(exc.__traceback__), traceback.format_exc())
    except Exception as exc:  # noqa: BLE001 - anything else is the failure we look for
        return "failed", Failure(type(exc).__name__, str(exc)[:300], _where(exc.__traceback__),
                                 traceback.format_exc())
    return "accepted", None


def check(run: Callable[[bytes], None], data: bytes, timeout: float = DEFAULT_TIMEOUT) -> Failure | None:
    """Run one input: None if it passed (returned or raised BTFEmbedError)."""
    return classify(run, data, timeout)[1]


class BadMessage(Exception):
    """A BTFEmbedError whose text is not one line."""

    def __init__(self, origin: BTFEmbedError):
        super().__init__(repr(str(origin)[:300]))
        self.origin = origin


def check_message(exc: BTFEmbedError) -> None:
    """The command line prints ``str(exc)`` as its one line on stderr."""
    if len(str(exc).splitlines()) > 1:
        raise BadMessage(exc)


def _bad_message(bad: BadMessage) -> Failure:
    origin = bad.origin
    trace = "".join(traceback.format_exception(type(origin), origin, origin.__traceback__))
    return Failure("multi-line message", str(bad), _where(origin.__traceback__), trace)


def attempt(fn: Callable, *args, **kwargs):
    """Call ``fn``; a BTFEmbedError is an accepted outcome (returns None)."""
    try:
        return fn(*args, **kwargs)
    except BTFEmbedError as exc:
        check_message(exc)
        return None


# ---------------------------------------------------------------------------
# Byte-level helpers and mutations

INTERESTING32 = (0, 1, 2, 3, 4, 7, 8, 12, 16, 24, 32, 0x7F, 0x80, 0xFF, 0x100, 0x3FF, 0x7FFF, 0x8000,
                 0xFFFF, 0x10000, 0xFFFFFF, 0x1000000, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFE, 0xFFFFFFFF)


def u32(rng: random.Random) -> int:
    r = rng.random()
    if r < 0.5:
        return rng.choice(INTERESTING32)
    if r < 0.8:
        return rng.randrange(0, 256)
    return rng.getrandbits(32)


def put32(buf: bytearray, off: int, value: int, fmt: str = "<") -> None:
    if 0 <= off and off + 4 <= len(buf):
        struct.pack_into(fmt + "I", buf, off, value & 0xFFFFFFFF)


def get32(buf: bytes, off: int, fmt: str = "<") -> int:
    return struct.unpack_from(fmt + "I", buf, off)[0]


def mutate_bytes(rng: random.Random, data: bytes, max_ops: int = 6) -> bytes:
    """Generic mutations: bit flips, byte and word overwrites, insertions,
    deletions, duplicated chunks, truncation, appended junk."""
    buf = bytearray(data)
    for _ in range(rng.randint(1, max_ops)):
        n = len(buf)
        op = rng.randrange(11)
        if n == 0 or op == 10:
            buf += rng.randbytes(rng.randint(1, 16))
            continue
        pos = rng.randrange(n)
        if op == 0:
            buf[pos] ^= 1 << rng.randrange(8)
        elif op == 1:
            buf[pos] = rng.randrange(256)
        elif op == 2:
            buf[pos] = rng.choice((0, 1, 0x7F, 0x80, 0xFF))
        elif op in (3, 4):
            if op == 3:
                pos &= ~3
            put32(buf, pos, u32(rng), rng.choice("<>"))
        elif op == 5:
            buf[pos:pos] = rng.randbytes(rng.randint(1, 8))
        elif op == 6:
            del buf[pos:pos + rng.randint(1, 64)]
        elif op == 7:
            start = rng.randrange(n)
            chunk = buf[start:start + rng.randint(1, 256)]
            buf[pos:pos] = chunk
        elif op == 8:
            del buf[rng.randrange(n + 1):]
        elif op == 9:
            length = rng.randint(1, 32)
            src = rng.randrange(n)
            buf[pos:pos + length] = buf[src:src + length]
    return bytes(buf)


# ---------------------------------------------------------------------------
# BTF-aware mutations

# Records of the same shape (fixed words, words per vlen item): swapping kinds
# within a group keeps the record size, so the BTF still parses.
_SAME_SHAPE: dict[tuple[int, int], list[int]] = {}
for _k, _shape in wire.KIND_WORDS.items():
    _SAME_SHAPE.setdefault(_shape, []).append(_k)


class BtfLayout:
    """Where things are in one parsable BTF (a mutation seed)."""

    def __init__(self, data: bytes, base: BTF | None = None):
        btf = BTF(data, base=base)
        h = btf.header
        self.fmt = "<" if h.byte_order == "little" else ">"
        self.hdr_len = h.hdr_len
        self.type_start = h.hdr_len + h.type_off
        self.type_end = self.type_start + h.type_len
        self.str_start = h.hdr_len + h.str_off
        self.str_len = h.str_len
        self.str_base = btf.strings.start
        self.start_id = btf.start_id
        self.type_cnt = btf.type_cnt
        words = btf._words
        # (byte offset, kind, vlen) of every record
        self.records = []
        for i in btf._offs:
            info = words[i + 1]
            self.records.append((self.type_start + 4 * i, (info >> 24) & 0x7F, info & 0xFFFFFF))
        table = btf.strings
        starts = [table.start] + [table.start + i + 1 for i, b in enumerate(table.data[:-1]) if b == 0]
        self.str_starts = starts if len(starts) < 4096 else starts[::len(starts) // 4096 + 1]
        self.layout = h.layout_len > 0


def _record_fields(kind: int, vlen: int) -> list[tuple[int, str]]:
    """(word index in the record, role) for the words of one record."""
    fields = [(0, "str"), (1, "info"), (2, "size" if kind in wire.SIZED_KINDS else "id")]
    fixed, per = wire.KIND_WORDS.get(kind, (0, 0))
    if kind == wire.INT:
        fields.append((3, "intdata"))
    elif kind == wire.ARRAY:
        fields += [(3, "id"), (4, "id"), (5, "count")]
    elif kind in (wire.VAR, wire.DECL_TAG):
        fields.append((3, "small"))
    roles = {
        wire.STRUCT: ("str", "id", "bitoff"), wire.UNION: ("str", "id", "bitoff"),
        wire.ENUM: ("str", "val"), wire.ENUM64: ("str", "val", "val"),
        wire.FUNC_PROTO: ("str", "id"), wire.DATASEC: ("id", "val", "size"),
    }.get(kind)
    if roles and vlen:
        for item in range(min(vlen, 64)):
            for j, role in enumerate(roles):
                fields.append((3 + fixed + item * per + j, role))
    return fields


def _value_for(rng: random.Random, role: str, lay: BtfLayout, self_id: int, old: int) -> int:
    r = rng.random()
    if role == "str":
        end = lay.str_base + lay.str_len
        choices = (0, end, end - 1, end + 1, 0xFFFFFFFF, old + 1, old - 1, lay.str_base - 1)
        if r < 0.5 and lay.str_starts:
            return rng.choice(lay.str_starts)
        if r < 0.6:
            return rng.randrange(max(end, 1))
        return rng.choice(choices) & 0xFFFFFFFF
    if role == "id":
        cnt = lay.type_cnt
        if r < 0.4:
            return rng.randrange(cnt)
        if r < 0.55:
            return self_id
        return rng.choice((0, cnt - 1, cnt, cnt + 1, self_id - 1, self_id + 1, lay.start_id - 1,
                           0xFFFFFFFF, 0x7FFFFFFF, 1)) & 0xFFFFFFFF
    if role == "size":
        return rng.choice((0, 1, 2, 3, 4, 5, 8, 16, 64, 0x7FFFFFFF, 0xFFFFFFFF, old * 2, old + 1,
                           rng.getrandbits(32))) & 0xFFFFFFFF
    if role == "bitoff":
        if r < 0.5:
            return rng.randrange(0, 1024)
        if r < 0.7:  # bitfield size in the top byte (kind_flag structs)
            return (rng.randrange(0, 256) << 24) | rng.randrange(0, 512)
        return u32(rng)
    if role == "count":
        return rng.choice((0, 1, 2, 3, 16, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF, old + 1, rng.getrandbits(32))) & 0xFFFFFFFF
    if role == "intdata":
        enc = rng.choice((0, 1, 2, 4, 8, 15))
        return (enc << 24) | (rng.choice((0, 1, 8, 255)) << 16) | rng.choice((0, 1, 7, 8, 16, 32, 64, 128, 255))
    if role == "small":
        return rng.choice((0, 1, 2, 3, 0xFFFFFFFF, 0x7FFFFFFF, rng.getrandbits(32)))
    return u32(rng)


def mutate_btf_words(rng: random.Random, data: bytes, lay: BtfLayout, max_ops: int = 4,
                     keep_shape: bool = True) -> bytes:
    """Overwrite words of type records with meaningful bad values (string
    offsets, type ids, sizes, bit offsets; kinds of the same record shape).
    With ``keep_shape`` the result still parses (record sizes unchanged)."""
    buf = bytearray(data)
    fmt = lay.fmt
    if not lay.records:
        return data
    for _ in range(rng.randint(1, max_ops)):
        k = rng.randrange(len(lay.records))
        off, kind, vlen = lay.records[k]
        self_id = lay.start_id + k
        word, role = rng.choice(_record_fields(kind, vlen))
        pos = off + 4 * word
        if pos + 4 > min(lay.type_end, len(buf)):
            continue
        old = get32(buf, pos, fmt)
        if role == "info":
            shape = wire.KIND_WORDS.get(kind)
            r = rng.random()
            if r < 0.4 and shape is not None:
                new_kind = rng.choice(_SAME_SHAPE[shape])
                value = (old & 0x80FFFFFF) | (new_kind << 24)
            elif r < 0.7:
                value = old ^ 0x80000000  # kind_flag
            elif not keep_shape:
                choice = rng.randrange(4)
                if choice == 0:
                    value = (old & 0xFF000000) | rng.choice((0, 1, vlen + 1, max(vlen - 1, 0), 0xFFFFFF, 0xFFFF))
                elif choice == 1:
                    value = (old & 0x80FFFFFF) | (rng.randrange(128) << 24)
                else:
                    value = u32(rng)
            else:
                value = old ^ 0x80000000
        else:
            value = _value_for(rng, role, lay, self_id, old)
        put32(buf, pos, value, fmt)
    return bytes(buf)


_HEADER_FIELDS = ((4, "hdr_len"), (8, "type_off"), (12, "type_len"), (16, "str_off"), (20, "str_len"),
                  (24, "layout_off"), (28, "layout_len"))


def grow_header(rng: random.Random, data: bytes) -> bytes:
    """Insert bytes after the header and raise hdr_len to match (any length,
    not only multiples of 4; zero or non-zero extra bytes)."""
    if len(data) < 24:
        return data
    fmt = "<" if data[:2] == b"\x9f\xeb" else ">"
    hdr_len = get32(data, 4, fmt)
    if hdr_len > len(data):
        return data
    k = rng.choice((1, 2, 3, 4, 5, 8, 12))
    extra = bytes(k) if rng.random() < 0.7 else rng.randbytes(k)
    buf = bytearray(data[:hdr_len] + extra + data[hdr_len:])
    put32(buf, 4, hdr_len + k, fmt)
    return bytes(buf)


def mutate_btf_header(rng: random.Random, data: bytes) -> bytes:
    buf = bytearray(data)
    if len(buf) < 24:
        return mutate_bytes(rng, data)
    fmt = "<" if buf[:2] == b"\x9f\xeb" else ">"
    r = rng.random()
    if r < 0.15:
        return grow_header(rng, data)
    if r < 0.2:
        buf[2] = rng.choice((0, 1, 2, 255))  # version
    elif r < 0.2:
        buf[3] = rng.choice((0, 1, 0x80, 255))  # flags
    elif r < 0.25:
        buf[0:2] = rng.choice((b"\xeb\x9f", b"\x9f\xeb", b"\x00\x00", b"\x9f\xec"))
    else:
        off, _name = rng.choice(_HEADER_FIELDS)
        if off + 4 > len(buf):
            return mutate_bytes(rng, data)
        old = get32(buf, off, fmt)
        n = len(buf)
        value = rng.choice((0, 1, 2, 4, 24, 25, 32, old + 1, old - 1, old + 4, old - 4, n, n - 1, n + 1,
                            n - 24, n - 23, 0xFFFFFFFF, 0xFFFFFFFC, 0x80000000, rng.randrange(n + 8)))
        put32(buf, off, value, fmt)
    return bytes(buf)


def mutate_strings(rng: random.Random, data: bytes, lay: BtfLayout) -> bytes:
    buf = bytearray(data)
    lo, hi = lay.str_start, lay.str_start + lay.str_len
    if hi <= lo or hi > len(buf):
        return mutate_bytes(rng, data)
    for _ in range(rng.randint(1, 3)):
        op = rng.randrange(5)
        pos = rng.randrange(lo, hi)
        if op == 0:  # unterminate a string (or the table)
            nul = buf.find(b"\0", pos, hi)
            buf[nul if nul >= 0 else hi - 1] = ord("A")
        elif op == 1:
            buf[hi - 1] = rng.randrange(1, 256)
        elif op == 2:  # invalid UTF-8, flavor separators
            piece = rng.choice((b"\xff", b"\xc3", b"___", b"_", b"\x00", b"\n", b"\r", b"\xe2\x80\xa8"))
            buf[pos:pos + len(piece)] = piece[:hi - pos]
        elif op == 3:
            buf[lo] = rng.randrange(256)
        else:
            buf[pos] = 0
    return bytes(buf)


def mutate_btf(rng: random.Random, data: bytes, lay: BtfLayout | None) -> bytes:
    """One BTF mutation round, structure-aware when ``lay`` is known."""
    r = rng.random()
    if lay is None or r < 0.2:
        return mutate_bytes(rng, data)
    if r < 0.35:
        return mutate_btf_header(rng, data)
    if r < 0.45:
        return mutate_strings(rng, data, lay)
    if r < 0.55:
        n = len(data)
        return data[:rng.randrange(n)] if n else data
    out = mutate_btf_words(rng, data, lay, keep_shape=r < 0.8)
    if rng.random() < 0.1:
        out = mutate_bytes(rng, out, 2)
    return out


# ---------------------------------------------------------------------------
# Building inputs: ELF objects, .BTF.ext, random BTF

SHT_PROGBITS, SHT_STRTAB = 1, 3


def make_elf(sections: list[tuple[str, bytes]], *, order: str = "little", machine: int = 247,
             elfclass: int = 64, section_type: int = SHT_PROGBITS) -> bytes:
    """A relocatable ELF file holding ``sections`` (name, contents), plus the
    null section and ``.shstrtab``.  Enough for pyelftools and for libbpf's
    section lookup; no symbols."""
    fmt = "<" if order == "little" else ">"
    shstr = bytearray(b"\0")
    names = []
    for name, _ in sections + [(".shstrtab", b"")]:
        names.append(len(shstr))
        shstr += name.encode() + b"\0"
    ehsize, shentsize = (64, 64) if elfclass == 64 else (52, 40)
    body = bytearray()
    offsets = []
    pos = ehsize
    contents = [d for _, d in sections] + [bytes(shstr)]
    for d in contents:
        pad = (-pos) % 8
        body += bytes(pad)
        pos += pad
        offsets.append(pos)
        body += d
        pos += len(d)
    pad = (-pos) % 8
    body += bytes(pad)
    shoff = pos + pad
    shnum = len(contents) + 1
    ident = b"\x7fELF" + bytes([2 if elfclass == 64 else 1, 1 if order == "little" else 2, 1, 0]) + bytes(8)
    if elfclass == 64:
        head = ident + struct.pack(fmt + "HHIQQQIHHHHHH", 1, machine, 1, 0, 0, shoff, 0, ehsize, 0, 0,
                                   shentsize, shnum, shnum - 1)
        shdr = fmt + "IIQQQQIIQQ"
    else:
        head = ident + struct.pack(fmt + "HHIIIIIHHHHHH", 1, machine, 1, 0, 0, shoff, 0, ehsize, 0, 0,
                                   shentsize, shnum, shnum - 1)
        shdr = fmt + "IIIIIIIIII"
    table = bytearray(struct.pack(shdr, *([0] * 10)))
    for i, d in enumerate(contents):
        stype = SHT_STRTAB if i == len(contents) - 1 else section_type
        table += struct.pack(shdr, names[i], stype, 0, 0, offsets[i], len(d), 0, 0, 1 if stype == SHT_STRTAB else 8, 0)
    return bytes(head + body + table)


def make_ext(records: list[tuple[int, int, int, int, int]], *, order: str = "little",
             func_info: bytes = b"", line_info: bytes = b"", hdr_len: int = 32) -> bytes:
    """A ``.BTF.ext`` with CO-RE records (sec_name_off, insn_off, type_id,
    access_str_off, kind), one block per run of equal section names."""
    fmt = "<" if order == "little" else ">"
    core = bytearray()
    if records:
        core += struct.pack(fmt + "I", 16)
        blocks: list[tuple[int, list]] = []
        for sec, *rest in records:
            if not blocks or blocks[-1][0] != sec:
                blocks.append((sec, []))
            blocks[-1][1].append(rest)
        for sec, recs in blocks:
            core += struct.pack(fmt + "II", sec, len(recs))
            for rec in recs:
                core += struct.pack(fmt + "IIII", *rec)
    fi_off, li_off = 0, len(func_info)
    core_off = li_off + len(line_info)
    head = struct.pack(fmt + "HBBIIIIIII", wire.MAGIC, 1, 0, hdr_len, fi_off, len(func_info), li_off,
                       len(line_info), core_off, len(core))
    head = head[:hdr_len] if hdr_len <= len(head) else head + bytes(hdr_len - len(head))
    return head + func_info + line_info + bytes(core)


def pack_pair(obj: bytes, kernel: bytes) -> bytes:
    """The input format of the ``core`` targets: object, then kernel BTF."""
    return struct.pack("<I", len(obj)) + obj + kernel


def unpack_pair(data: bytes) -> tuple[bytes, bytes]:
    if len(data) < 4:
        return b"", data
    (n,) = struct.unpack_from("<I", data)
    return data[4:4 + n], data[4 + n:]


_NAMES = ("a", "b", "c", "x", "y", "s", "s___v2", "t", "u", "e", "e___old", "E_A", "E_B", "E_A___x", "int",
          "long", "long unsigned int", "char", "task_struct", "pid", "v", "", "", "f", "p___a___b", "__x",
          "x___", "a___b_", "\xff", "core_reloc_fields", "line\nbreak", "s___\r", "\u2028")


def random_btf(rng: random.Random, n: int | None = None, *, names: tuple[str, ...] = _NAMES) -> tuple[Builder, int]:
    """A Builder holding ``n`` random types of every kind.  References point
    anywhere in [0, n + 2]: dangling ids and cycles are expected."""
    b = Builder()
    n = n or rng.randint(1, 40)
    ids = lambda: rng.choice((rng.randint(0, n + 2), rng.randint(1, max(b.type_cnt - 1, 1)), 0))  # noqa: E731
    name = lambda: rng.choice(names)  # noqa: E731
    for _ in range(n):
        kind = rng.randrange(1, 20)
        if kind == wire.INT:
            size = rng.choice((1, 2, 4, 8, 16, 0, 3))
            b.add_int(name(), size, rng.choice((0, 1, 2, 4)), bits=rng.choice((size * 8, 1, 0, 7, 128)),
                      offset=rng.choice((0, 0, 0, 1)))
        elif kind in (wire.PTR, wire.TYPEDEF, wire.VOLATILE, wire.CONST, wire.RESTRICT, wire.TYPE_TAG,
                      wire.FUNC, wire.FWD):
            b.add_ref(kind, ids(), name() if kind != wire.PTR else "", kflag=rng.randrange(2),
                      vlen=rng.randrange(3) if kind == wire.FUNC else 0)
        elif kind == wire.ARRAY:
            b.add_array(ids(), ids(), rng.choice((0, 1, 2, 4, 16, 0xFFFFFFFF)))
        elif kind in (wire.STRUCT, wire.UNION):
            members = []
            off = 0
            for _m in range(rng.randint(0, 6)):
                bits = rng.choice((0, 0, 0, 1, 3, 8, 33))
                members.append((name(), ids(), off, bits))
                off += rng.choice((0, 8, 32, 64, 1, 3))
            b.add_composite(kind, name(), rng.choice((0, 4, 8, 16, 24, 1 << 20)), members)
        elif kind in (wire.ENUM, wire.ENUM64):
            vals = [(name(), rng.choice((0, 1, -1, 1 << 31, (1 << 40) + 3, 7))) for _ in range(rng.randint(0, 4))]
            b.add_enum(name(), rng.choice((1, 2, 4, 8, 0)), vals, signed=rng.random() < 0.5,
                       enum64=kind == wire.ENUM64)
        elif kind == wire.FUNC_PROTO:
            b.add_func_proto(ids(), [(name(), ids()) for _ in range(rng.randint(0, 3))])
        elif kind == wire.VAR:
            b.add(Var(wire.VAR, name(), make_info(wire.VAR), ids(), linkage=rng.randrange(4)))
        elif kind == wire.DATASEC:
            infos = [VarSecinfo(ids(), rng.randrange(64), rng.randrange(16)) for _ in range(rng.randint(0, 3))]
            b.add(DatasecT(wire.DATASEC, ".data", make_info(wire.DATASEC, len(infos)), rng.randrange(64),
                           secinfos=infos))
        elif kind == wire.FLOAT:
            b.add_float(name(), rng.choice((2, 4, 8, 12, 16, 0)))
        elif kind == wire.DECL_TAG:
            b.add(DeclTag(wire.DECL_TAG, name(), make_info(wire.DECL_TAG), ids(),
                          component_idx=rng.choice((-1, 0, 1, 5))))
    return b, n


def random_btf_bytes(rng: random.Random) -> bytes:
    """``btf_gen`` inputs: random types, optional unknown kinds described by
    a layout section, random header length and byte order."""
    b, _n = random_btf(rng)
    order = rng.choice(("little", "big"))
    hdr_len = rng.choice((24, 24, 32, 32, 36, 40))
    layout: bool | bytes = False
    if hdr_len >= 32 and rng.random() < 0.6:
        unknown = rng.randrange(20, 40)
        info_sz, elem_sz = rng.choice(((0, 0), (4, 0), (8, 4), (0, 12), (3, 0), (4, 2)))
        for _ in range(rng.randint(1, 3)):
            vlen = rng.randint(0, 3)
            words = [b.strings.add(rng.choice(_NAMES)), make_info(unknown, vlen), rng.randrange(8)]
            words += [rng.getrandbits(32) for _ in range((info_sz + elem_sz * vlen) // 4)]
            b.add_words(words)
        entries = [wire.layout_entry_bytes(k) if k in wire.KIND_WORDS else (0, 0)
                   for k in range(max(unknown + 1, wire.KNOWN_KINDS))]
        entries[unknown] = (info_sz, elem_sz)
        if rng.random() < 0.2:  # a layout that contradicts a known kind
            k = rng.randrange(1, 20)
            entries[k] = (rng.randrange(0, 16) * 4, rng.randrange(0, 4) * 4)
        fmt = "<" if order == "little" else ">"
        layout = b"".join(struct.pack(fmt + "BBH", i, e, 0) for i, e in entries)
    extra = bytes(hdr_len - (32 if hdr_len >= 32 else 24))
    if extra and rng.random() < 0.3:
        extra = rng.randbytes(len(extra))
    data = b.to_bytes(byte_order=order, hdr_len=hdr_len, layout=layout, header_extra=extra)
    return grow_header(rng, data) if rng.random() < 0.1 else data


# ---------------------------------------------------------------------------
# Seeds (loaded lazily, once)


class Seeds:
    """Seed inputs, built on first use from the repository's test data."""

    def __init__(self) -> None:
        self._cache: dict[str, object] = {}

    def _get(self, key: str, make: Callable[[], object]):
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    @property
    def objects(self) -> dict[str, bytes]:
        return self._get("objects", lambda: {p.name: p.read_bytes() for p in sorted(OBJS.glob("*.o"))})

    @property
    def small_objects(self) -> dict[str, bytes]:
        return {k: v for k, v in self.objects.items() if not k.startswith("tracer")}

    @property
    def synth_btfs(self) -> dict[str, bytes]:
        return self._get("synth", lambda: {p.name: p.read_bytes() for p in sorted(SYNTH.glob("*.btf"))})

    def kernel(self, name: str) -> bytes:
        return self._get("kernel:" + name, lambda: lzma.decompress((KERNELS / name).read_bytes()))

    @property
    def debian(self) -> BTF:
        return self._get("debian", lambda: BTF(self.kernel("debian_12_x86_64_6.1.0-50-amd64.btf.xz"),
                                               source="debian"))

    @property
    def module(self) -> bytes:
        return self.kernel("debian_12_x86_64_6.1.0-50-amd64__nf_conntrack.btf.xz")

    @property
    def object_btfs(self) -> dict[str, bytes]:
        def make():
            out = {}
            for name, data in self.objects.items():
                sec = ElfFile(data).section_data(".BTF")
                if sec:
                    out[name] = sec
            return out
        return self._get("object_btfs", make)

    @property
    def exts(self) -> dict[str, tuple[bytes, bytes]]:
        """object name -> (.BTF string table, .BTF.ext)"""
        def make():
            out = {}
            for name, data in self.objects.items():
                elf = ElfFile(data)
                ext = elf.section_data(".BTF.ext")
                if ext:
                    out[name] = (BTF(elf.section_data(".BTF")).strings.data, ext)
            return out
        return self._get("exts", make)

    @property
    def kernel_prefix(self) -> bytes:
        """The first 2000 types of a real kernel, re-encoded (dangling refs)."""
        def make():
            k = self.debian
            b = Builder()
            for tid in range(1, 2001):
                b.add(k.type(tid))
            return b.to_bytes()
        return self._get("prefix", make)

    @property
    def minimized_real(self) -> dict[str, bytes]:
        """Real objects minimized against real kernels: small, realistic
        kernel BTF for the core target (object name -> minimized BTF)."""
        def make():
            out = {}
            kylin = BTF(self.kernel("kylin_V10_arm64_4.19.90-24.4.v2101.ky10.aarch64.btf.xz"))
            for name in ("tracer.el.o", "task_small.el.o", "kernel_c19.el.o", "key_ref_fwd.el.o",
                         "tracer.arm64.el.o"):
                if name not in self.objects:
                    continue
                obj = BpfObject(self.objects[name], source=name)
                kernel = kylin if "arm64" in name else self.debian
                try:
                    out[name] = minimize([obj], CoreTarget(kernel)).data
                except BTFEmbedError:
                    continue
            return out
        return self._get("minimized_real", make)

    def btf_seeds(self) -> list[bytes]:
        return self._get("btf_seeds", lambda: list(self.synth_btfs.values()) + list(self.object_btfs.values())
                         + list(self.minimized_real.values()) + [self.kernel_prefix])

    def layout(self, data: bytes, base: BTF | None = None) -> BtfLayout | None:
        """The layout of a seed (cached)."""
        key = "layout:" + hashlib.sha1(data).hexdigest() + (":split" if base is not None else "")
        return self._get(key, lambda: layout_of(data, base))


def layout_of(data: bytes, base: BTF | None = None) -> BtfLayout | None:
    try:
        return BtfLayout(data, base)
    except BTFEmbedError:
        return None


SEEDS = Seeds()


# ---------------------------------------------------------------------------
# Targets


class FuzzTarget(NamedTuple):
    name: str
    make: Callable[[random.Random], bytes]   # one input
    run: Callable[[bytes], None]             # the check (raises on bad behaviour)
    weight: float
    doc: str


TARGETS: dict[str, FuzzTarget] = {}


def target(name: str, weight: float, run: Callable[[bytes], None] | None = None):
    def deco(make):
        TARGETS[name] = FuzzTarget(name, make, run or make.run, weight, (make.__doc__ or "").strip())
        return make
    return deco


# -- BTF -----------------------------------------------------------------------


def exercise_btf(btf: BTF, *, reencode: bool = True) -> None:
    """Every read-side entry point of one parsed BTF."""
    validated = _validates(btf)
    ids = list(btf.ids())[:MAX_IDS]
    names: set[str] = set()
    for tid in ids:
        t = attempt(btf.type, tid)
        if t is not None:
            names.add(t.name)
        attempt(btf.kind, tid)
        attempt(btf.name, tid)
        attempt(btf.skip_mods_and_typedefs, tid)
        attempt(btf.skip_mods, tid)
        attempt(btf.resolve_size, tid)
    for tid in (0, -1, btf.type_cnt, btf.type_cnt + 5, 1 << 40):
        attempt(btf.type, tid)
        attempt(btf.kind, tid)
    probe = sorted(names)[:40] + ["", "int", "long", "task_struct", "s", "a___b", "x___"]
    for name in probe:
        attempt(btf.find_by_name, name, include_base=True)
        attempt(btf.find_by_essential_name, essential_name(name), include_base=True)
    attempt(btf.pointer_size)
    attempt(dump, btf, io.StringIO())
    repr(btf)
    if reencode and btf.base is None:
        raw = attempt(roundtrip, btf)
        if validated and len(ids) == btf.type_cnt - btf.start_id:
            # Every type decodes: re-encoding must work and give the same types.
            if raw is None:
                raise AssertionError("roundtrip() refused a BTF that validates")
            again = BTF(raw)
            for tid in ids:
                if again.type(tid) != btf.type(tid):
                    raise AssertionError(f"roundtrip changed type [{tid}]")


def _validates(btf: BTF) -> bool:
    try:
        btf.validate()
    except BTFEmbedError:
        return False
    return True


def run_btf(data: bytes) -> None:
    btf = BTF(data, source="fuzz")
    exercise_btf(btf)


@target("btf", 20, run_btf)
def make_btf(rng: random.Random) -> bytes:
    """Mutated real and synthetic BTF"""
    seeds = SEEDS.btf_seeds()
    data = rng.choice(seeds)
    lay = SEEDS.layout(data)
    for _ in range(rng.choice((1, 1, 1, 2, 3))):
        data = mutate_btf(rng, data, lay if rng.random() < 0.9 else None)
        lay = layout_of(data) if len(data) < 100_000 else None
    return data


@target("btf_gen", 12, run_btf)
def make_btf_gen(rng: random.Random) -> bytes:
    """Structure-aware random BTF (Builder)"""
    data = random_btf_bytes(rng)
    if rng.random() < 0.3:
        data = mutate_btf(rng, data, layout_of(data))
    return data


def run_btf_split(data: bytes) -> None:
    btf = BTF(data, base=SEEDS.debian, source="fuzz-module")
    exercise_btf(btf, reencode=False)


@target("btf_split", 3, run_btf_split)
def make_btf_split(rng: random.Random) -> bytes:
    """Mutated module BTF on top of a real kernel"""
    data = SEEDS.module
    lay = SEEDS.layout(data, SEEDS.debian)
    for _ in range(rng.choice((1, 2))):
        data = mutate_btf(rng, data, lay)
    return data


# -- .BTF.ext --------------------------------------------------------------------


def run_ext(data: bytes) -> None:
    if len(data) < 4:
        return
    (n,) = struct.unpack_from("<I", data)
    strs = data[4:4 + n]
    ext = data[4 + n:]
    info = parse_ext(ext, StringTable(strs))
    for rec in info.core_relos:
        attempt(parse_access, rec.access)


def _ext_input(strs: bytes, ext: bytes) -> bytes:
    return struct.pack("<I", len(strs)) + strs + ext


def mutate_ext(rng: random.Random, ext: bytes, strs: bytes) -> bytes:
    buf = bytearray(ext)
    if len(buf) < 32 or rng.random() < 0.2:
        return mutate_bytes(rng, ext)
    fmt = "<" if buf[:2] == b"\x9f\xeb" else ">"
    hdr_len = get32(buf, 4, fmt)
    for _ in range(rng.randint(1, 3)):
        r = rng.random()
        if r < 0.3:  # header fields
            off = rng.choice((4, 8, 12, 16, 20, 24, 28))
            old = get32(buf, off, fmt)
            put32(buf, off, rng.choice((0, 1, 4, 8, 16, 24, 28, 31, 32, old + 4, old - 4, old + 1, len(buf),
                                        0xFFFFFFFF, 0xFFFFFFF0, rng.randrange(len(buf) + 8))), fmt)
        elif r < 0.4:
            buf[rng.choice((2, 3))] = rng.choice((0, 1, 2, 255))
        else:  # a word of the core_relo subsection: record size, block header or record field
            if len(buf) < 32 or hdr_len > len(buf):
                break
            core_off, core_len = get32(buf, 24, fmt), get32(buf, 28, fmt)
            start = hdr_len + core_off
            end = min(start + core_len, len(buf))
            if end - start < 8:
                fi_off = get32(buf, 8, fmt)
                start = hdr_len + fi_off
                end = min(start + get32(buf, 12, fmt), len(buf))
            if end - start < 4 or start < 0:
                break
            pos = start + 4 * rng.randrange((end - start) // 4)
            words_from_start = (pos - start) // 4
            if words_from_start == 0:
                value = rng.choice((0, 4, 8, 12, 15, 16, 17, 20, 24, 32, 0xFFFFFFFF, 0x80000000))
            else:
                value = rng.choice((0, 1, 2, 12, 13, 99, len(strs), len(strs) - 1, len(strs) + 1,
                                    rng.randrange(max(len(strs), 1)), 0xFFFFFFFF, 0x7FFFFFFF, 1 << 20, 8, 7))
            put32(buf, pos, value, fmt)
    return bytes(buf)


@target("ext", 12, run_ext)
def make_ext_input(rng: random.Random) -> bytes:
    """Mutated .BTF.ext sections of the test objects"""
    strs, ext = rng.choice(list(SEEDS.exts.values()))
    ext = mutate_ext(rng, ext, strs)
    if rng.random() < 0.1:
        strs = mutate_bytes(rng, strs, 2)
    return _ext_input(strs, ext)


# -- ELF objects -----------------------------------------------------------------


def exercise_object(obj: BpfObject, kernel: BTF | None) -> None:
    specs = attempt(parse_local_specs, obj.btf, obj.relocations)
    for rec in obj.relocations[:200]:
        obj.program_at(rec.section, rec.insn_off)
    obj.programs()
    exercise_btf(obj.btf, reencode=False) if len(obj.btf.raw) < 200_000 else None
    if specs is None:
        return
    targets = [CoreTarget(obj.btf)] + ([CoreTarget(kernel)] if kernel is not None else [])
    for tgt in targets:
        run_core(obj, tgt)


def run_core(obj: BpfObject, tgt: CoreTarget) -> None:
    """Resolve, explain, minimize (both modes) and verify one object."""
    from btfembed.cli.explain import print_report

    sums = attempt(summarize_object, obj, tgt)
    if sums is None:
        return
    for s in sums:
        describe(s)
    print_report([obj], [sums], io.StringIO())
    print_report([obj], [sums], io.StringIO(), as_json=True)
    mini = attempt(minimize, [obj], tgt)
    attempt(minimize, [obj], tgt, compat=True)
    attempt(minimize, [obj], tgt, byte_order="big", hdr_len=32)
    if mini is not None:
        m = BTF(mini.data, source="<minimized>")
        m.validate()
        again = summarize_object(obj, CoreTarget(m))
        compare(sums, again)


def run_elf(data: bytes) -> None:
    obj = BpfObject(data, source="fuzz.o")
    attempt(unwrap, data, limit=UNWRAP_LIMIT)
    exercise_object(obj, BTF(SEEDS.synth_btfs["base.btf"]) if "base.btf" in SEEDS.synth_btfs else None)


_ELF64_FIELDS = ((0x28, "Q", "e_shoff"), (0x3A, "H", "e_shentsize"), (0x3C, "H", "e_shnum"),
                 (0x3E, "H", "e_shstrndx"), (0x12, "H", "e_machine"), (0x34, "H", "e_ehsize"))
_SHDR64_FIELDS = ((0, "I", "sh_name"), (4, "I", "sh_type"), (8, "Q", "sh_flags"), (24, "Q", "sh_offset"),
                  (32, "Q", "sh_size"), (40, "I", "sh_link"), (44, "I", "sh_info"), (56, "Q", "sh_entsize"))


def mutate_elf_structure(rng: random.Random, data: bytes) -> bytes:
    """Overwrite ELF header or section header fields with bad values."""
    buf = bytearray(data)
    if len(buf) < 64 or buf[4] != 2:
        return mutate_bytes(rng, data)
    fmt = "<" if buf[5] == 1 else ">"
    shoff, = struct.unpack_from(fmt + "Q", buf, 0x28)
    shnum, = struct.unpack_from(fmt + "H", buf, 0x3C)
    if rng.random() < 0.3 or shnum == 0:
        off, f, _ = rng.choice(_ELF64_FIELDS)
        value = rng.choice((0, 1, 2, 40, 64, 0xFFFF, len(buf), rng.getrandbits(16), 247, 62))
        if f == "Q":
            value = rng.choice((0, 1, len(buf), len(buf) - 64, 1 << 62, shoff + 8, rng.randrange(len(buf))))
    else:
        sec = rng.randrange(shnum)
        off0, f, name = rng.choice(_SHDR64_FIELDS)
        off = shoff + 64 * sec + off0
        if name == "sh_flags":
            value = rng.choice((0x800, 0x2, 0x6, 0xFFFFFFFF, 0))  # 0x800 SHF_COMPRESSED
        elif name == "sh_type":
            value = rng.choice((0, 1, 2, 3, 4, 8, 9, 11, 0x6FFFFFF5, 0xFFFFFFFF))
        else:
            value = rng.choice((0, 1, 8, 24, 64, len(buf), len(buf) + 1, 1 << 40, (1 << 64) - 1,
                                rng.randrange(len(buf))))
    size = struct.calcsize(f)
    if off + size <= len(buf):
        struct.pack_into(fmt + f, buf, off, value & ((1 << (8 * size)) - 1))
    return bytes(buf)


def object_sections(data: bytes) -> tuple[str, bytes, bytes | None]:
    elf = ElfFile(data)
    return ("little" if elf.little_endian else "big", elf.section_data(".BTF") or b"",
            elf.section_data(".BTF.ext"))


def mutate_object(rng: random.Random, data: bytes) -> bytes:
    """Rebuild the object with a mutated .BTF or .BTF.ext (valid ELF)."""
    order, btf, ext = object_sections(data)
    if ext is not None and rng.random() < 0.6:
        ext = mutate_ext(rng, ext, b"")
    else:
        btf = mutate_btf(rng, btf, layout_of(btf))
    sections = [(".text", bytes(8)), (".BTF", btf)] + ([(".BTF.ext", ext)] if ext is not None else [])
    return make_elf(sections, order=order)


@target("elf", 12, run_elf)
def make_elf_input(rng: random.Random) -> bytes:
    """Mutated BPF objects"""
    data = rng.choice(list(SEEDS.small_objects.values()))
    r = rng.random()
    if r < 0.35:
        return mutate_bytes(rng, data)
    if r < 0.65:
        return mutate_elf_structure(rng, data)
    if r < 0.75:
        # Valid ELF, but for another machine, class or without sections.
        order, btf, ext = object_sections(data)
        sections = [(".BTF", btf)] + ([(".BTF.ext", ext)] if ext and rng.random() < 0.7 else [])
        if rng.random() < 0.3:
            sections = [(".text", b"\x95" + bytes(7))]
        return make_elf(sections, order=order, machine=rng.choice((247, 62, 183, 0)),
                        elfclass=rng.choice((64, 64, 32)), section_type=rng.choice((1, 1, 8)))
    return mutate_object(rng, data)


# -- compressed and tar inputs ------------------------------------------------------


def run_unwrap(data: bytes) -> None:
    res = unwrap(data, limit=UNWRAP_LIMIT)
    btf = BTF(res.btf, source="unwrapped")
    attempt(btf.validate)


def _tar_member(name: str, data: bytes = b"", *, kind: bytes = tarfile.REGTYPE, linkname: str = "",
                size: int | None = None, pax: dict | None = None, fmt: int = tarfile.USTAR_FORMAT) -> bytes:
    info = tarfile.TarInfo(name)
    info.size = len(data) if size is None else size
    info.type = kind
    info.linkname = linkname
    if pax:
        info.pax_headers = pax
    try:
        head = info.tobuf(format=fmt, encoding="utf-8", errors="surrogateescape")
    except ValueError:
        head = info.tobuf(format=tarfile.PAX_FORMAT, encoding="utf-8", errors="surrogateescape")
    body = data + bytes((-len(data)) % 512)
    return head + (body if kind in (tarfile.REGTYPE, tarfile.AREGTYPE) else b"")


def random_tar(rng: random.Random, btf: bytes) -> bytes:
    members = []
    for _ in range(rng.randint(0, 4)):
        r = rng.random()
        name = rng.choice(("5.4.0.btf", "x/5.4.0.btf", "../5.4.0.btf", "../../x", "/abs.btf", "a/../b.btf",
                           "ok.btf", "readme.txt", "dir/", "a\\..\\b.btf", ".", "..", "\xff.btf"))
        if r < 0.4:
            members.append(_tar_member(name, btf))
        elif r < 0.5:
            members.append(_tar_member(name, btf, kind=tarfile.SYMTYPE, linkname="/etc/passwd"))
        elif r < 0.6:
            members.append(_tar_member(name, b"", kind=tarfile.LNKTYPE, linkname="ok.btf"))
        elif r < 0.65:
            members.append(_tar_member(name, b"", kind=rng.choice((tarfile.DIRTYPE, tarfile.FIFOTYPE,
                                                                    tarfile.CHRTYPE, b"S", b"Z"))))
        elif r < 0.8:  # huge declared size, short data
            members.append(_tar_member(name, btf, size=rng.choice((1 << 33, UNWRAP_LIMIT + 1, len(btf) + 1,
                                                                   (1 << 60)))))
        elif r < 0.9:
            members.append(_tar_member(name, btf, pax={"size": rng.choice(("-1", "1e9", "99999999999999", "x")),
                                                       "path": rng.choice(("../p.btf", "ok.btf", "\x00"))},
                                       fmt=tarfile.PAX_FORMAT))
        else:
            members.append(_tar_member(name, btf, fmt=tarfile.GNU_FORMAT))
    return b"".join(members) + bytes(1024 * rng.randint(0, 2))


def _compress(rng: random.Random, data: bytes) -> bytes:
    how = rng.randrange(4)
    if how == 0:
        return lzma.compress(data)
    if how == 1:
        return gzip.compress(data, mtime=0)
    if how == 2:
        return bz2.compress(data)
    return data


def fix_tar_checksums(data: bytes) -> bytes:
    """Recompute the checksum of every 512-byte block that looks like a tar
    header, so mutated headers still reach tarfile's field parsing."""
    buf = bytearray(data)
    for off in range(0, len(buf) - 511, 512):
        if buf[off + 257:off + 262] == b"ustar":
            block = buf[off:off + 512]
            block[148:156] = b" " * 8
            buf[off + 148:off + 156] = b"%06o\0 " % (sum(block) & 0o777777)
    return bytes(buf)


def mutate_tar_header(rng: random.Random, data: bytes) -> bytes:
    buf = bytearray(data)
    heads = [o for o in range(0, len(buf) - 511, 512) if buf[o + 257:o + 262] == b"ustar"]
    if not heads:
        return mutate_bytes(rng, data)
    off = rng.choice(heads)
    field = rng.randrange(5)
    if field == 0:  # name
        name = rng.choice((b"../../x", b"/etc/x.btf", b"a.btf", b"", b"\xff\xfe"))
        buf[off:off + 100] = name.ljust(100, b"\0")
    elif field == 1:  # size (octal or base-256)
        size = rng.choice((b"77777777777\0", b"\x80" + bytes(7) + b"\x7f\xff\xff\xff", b"-1\0",
                           b"\xff" * 12, b"00000000001\0", b"zzzzzzzzzzz\0"))
        buf[off + 124:off + 136] = size
    elif field == 2:
        buf[off + 156] = rng.choice(b"0125679SLKxgD\0")
    elif field == 3:
        buf[off + 157:off + 257] = rng.choice((b"../../etc/passwd", b"/", b"a.btf")).ljust(100, b"\0")
    else:
        pos = off + rng.randrange(512)
        buf[pos] = rng.randrange(256)
    return fix_tar_checksums(bytes(buf))


_BOMB = None


def _bomb() -> bytes:
    global _BOMB
    if _BOMB is None:
        _BOMB = gzip.compress(bytes(UNWRAP_LIMIT + 4096), mtime=0)
    return _BOMB


@target("unwrap", 10, run_unwrap)
def make_unwrap(rng: random.Random) -> bytes:
    """Mutated xz/gzip/bzip2/tar containers"""
    btf = rng.choice(list(SEEDS.synth_btfs.values()))
    r = rng.random()
    if r < 0.35:
        tar = random_tar(rng, btf)
        if rng.random() < 0.3:
            tar = mutate_tar_header(rng, tar)
        return _compress(rng, tar)
    if r < 0.45:
        return rng.choice((_bomb(), lzma.compress(bytes(UNWRAP_LIMIT + 1)), bz2.compress(bytes(UNWRAP_LIMIT + 1)),
                           lzma.compress(lzma.compress(lzma.compress(lzma.compress(lzma.compress(btf))))),
                           gzip.compress(lzma.compress(random_tar(rng, btf)), mtime=0)))
    base = _compress(rng, random_tar(rng, btf) if rng.random() < 0.3 else btf)
    if rng.random() < 0.5:
        return mutate_bytes(rng, base, 3)
    n = len(base)
    return base[:rng.randrange(n)] if n else base


# -- packs ---------------------------------------------------------------------------


def run_pack(data: bytes) -> None:
    pack = decode_pack(data, source="fuzz.pack")
    pack.mapping()
    for key, _ in pack.kernels[:20]:
        pack.blob_for(key)
        key.path()
        str(key)


_EDGE_U32 = (0, 1, 2, 3, 11, 12, 44, 96, 255, 256, 0xFFFF, 1 << 24, (1 << 24) - 1, 0x7FFFFFFF, 0xFFFFFFFF)


def pack_seeds() -> list[bytes]:
    def make():
        blobs = list(SEEDS.synth_btfs.values())[:3]
        items = [(KernelKey("x86_64", "ubuntu", "20.04", f"5.4.0-{i}"), blobs[i % len(blobs)]) for i in range(4)]
        items.append((KernelKey("arm64", "", "", "6.1"), blobs[0]))
        p = build_pack(items, [("a.bpf.o", bytes(range(32)))])
        return [encode_pack(p, codec="none"), encode_pack(p, codec="zlib", block_size=200),
                encode_pack(p, codec="xz"), encode_pack(build_pack([]))]
    return SEEDS._get("packs", make)


def _reseal_pack(data: bytearray) -> bytes:
    """Recompute the index digest so that mutations reach the later checks."""
    if len(data) < 96:
        return bytes(data)
    n_entries, n_blobs, n_blocks, n_objects, strings_size = struct.unpack_from("<IIIII", data, 20)
    end = 96 + 12 * n_blocks + 44 * n_blobs + 20 * n_entries + 36 * n_objects + strings_size
    data[64:96] = hashlib.sha256(bytes(data[:64]) + bytes(data[96:end])).digest()
    return bytes(data)


@target("pack", 8, run_pack)
def make_pack(rng: random.Random) -> bytes:
    """Mutated packs (bytes, header fields, index records; index digest
    recomputed or not)"""
    data = bytearray(rng.choice(pack_seeds()))
    r = rng.random()
    if r < 0.3:
        return mutate_bytes(rng, bytes(data))
    if r < 0.6:  # a header field
        off = rng.choice((14, 16, 20, 24, 28, 32, 36, 40, 44, 48))
        size = 2 if off == 14 else 4
        value = rng.choice(_EDGE_U32) & ((1 << (8 * size)) - 1)
        data[off:off + size] = value.to_bytes(size, "little")
    else:  # a u32 somewhere in the index tables
        if len(data) > 100:
            off = 96 + 4 * rng.randrange((min(len(data), 2000) - 96) // 4)
            data[off:off + 4] = rng.choice(_EDGE_U32).to_bytes(4, "little")
    return _reseal_pack(data) if rng.random() < 0.8 else bytes(data)


# -- os-release ----------------------------------------------------------------------


def run_os_release(data: bytes) -> None:
    text = data.decode("utf-8", "surrogateescape")
    osr = parse_os_release(text)
    for k, v in osr.items():
        if not isinstance(k, str) or not isinstance(v, str):
            raise AssertionError("parse_os_release must map str to str")
        normalize_arch(v)
    KernelKey(normalize_arch(osr.get("ARCH", "")), osr.get("ID", ""), osr.get("VERSION_ID", ""), "5.4").path()


@target("os_release", 4, run_os_release)
def make_os_release(rng: random.Random) -> bytes:
    """Generated os-release text"""
    lines = []
    pieces = ("ID", "VERSION_ID", "NAME", "X Y", "", "#", "=", "\"", "'", "\\", "\\\"", "$", "`", "ubuntu",
              "20.04", " ", "\t", "\r", "\x00", "\xe9", "\udcff", "\u2028", "\x85", "\n", "==", "A-B")
    for _ in range(rng.randint(0, 8)):
        lines.append("".join(rng.choice(pieces) for _ in range(rng.randint(0, 8))))
    return "\n".join(lines).encode("utf-8", "surrogateescape")


# -- access strings --------------------------------------------------------------------


def run_access(data: bytes) -> None:
    if len(data) < 5:
        return
    tid, kind = struct.unpack_from("<IB", data)
    access = data[5:].decode("utf-8", "surrogateescape")
    attempt(parse_access, access)
    btf = SEEDS._get("access_btf", lambda: BTF(SEEDS.object_btfs["synth_fields.el.o"]))
    spec = attempt(parse_spec, btf, tid, access, kind)
    if spec is not None:
        format_spec(spec)


@target("access", 5, run_access)
def make_access(rng: random.Random) -> bytes:
    """Access strings on a real object's BTF"""
    r = rng.random()
    if r < 0.5:
        parts = [str(rng.choice((0, 1, 2, 3, 5, 17, 63, 64, 0x7FFFFFFF, 1 << 31, 1 << 64, rng.randrange(100))))
                 for _ in range(rng.choice((1, 2, 3, 4, 64, 65, 200)))]
        access = ":".join(parts)
        if rng.random() < 0.2:
            access = access.replace(":", rng.choice(("::", " : ", ":+", ":-", ": ")), 1)
    elif r < 0.8:
        alphabet = "0123456789::::+- \t\n\u0663\uff11x\x00"
        access = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 24)))
    else:
        access = rng.choice(("", "0", ":", "0:", ":0", "0:" + "9" * rng.choice((5, 11, 30, 5000)), "-0", "+1",
                             " 1", "1 ", "0x10", "\u0661", "1" * 4400))
    tid = rng.choice((0, 1, 2, 3, 5, 7, 10, 20, 40, 100, 0xFFFFFFFF, rng.randrange(64)))
    kind = rng.choice((0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 255))
    return struct.pack("<IB", tid, kind) + access.encode("utf-8", "surrogateescape")


# -- settings files and kernel manifests ---------------------------------------------------

_SCRATCH: list[str] = []


def scratch_dir() -> str:
    """A private directory for inputs that must be files (removed at exit)."""
    if not _SCRATCH:
        import atexit
        import shutil
        import tempfile
        d = tempfile.mkdtemp(prefix="btfembed-fuzz-")
        atexit.register(shutil.rmtree, d, True)
        _SCRATCH.append(d)
    return _SCRATCH[0]


def run_settings(data: bytes) -> None:
    from btfembed.build.settings import find_settings_file, load_settings

    d = scratch_dir()
    for stale in ("btfembed.toml", "pyproject.toml"):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(d, stale))
    name = "pyproject.toml" if data[:1] == b"p" else "btfembed.toml"
    path = os.path.join(d, name)
    with open(path, "wb") as f:
        f.write(data[1:])
    attempt(find_settings_file, d)
    attempt(load_settings, path)


_SETTING_KEYS = ("objects", "kernels", "out_dir", "jobs", "cache_dir", "cache", "report", "html", "fail_on",
                 "keep_going", "arch", "distro", "release", "compat", "header_size", "compress", "emit",
                 "output", "prefix", "depfile", "unknown", "path", "tool", "btfembed")


def _toml_value(rng: random.Random, depth: int = 0) -> str:
    r = rng.random()
    if depth > 2 or r < 0.45:
        return rng.choice(('"x"', '"../../etc"', '"/abs"', "'lit'", '""', "0", "-1", "24", "32", "99999999999999999999",
                           "1.5", "inf", "nan", "true", "false", "1979-05-27", '"c"', '"python"', '"never"',
                           '"a\\nb"', '"\\u0000"', '"sysfs"', '"\\ud800"', "0x10", '"""multi\nline"""'))
    if r < 0.75:
        return "[" + ", ".join(_toml_value(rng, depth + 1) for _ in range(rng.randint(0, 3))) + "]"
    items = ", ".join(f"{rng.choice(_SETTING_KEYS)} = {_toml_value(rng, depth + 1)}" for _ in range(rng.randint(0, 3)))
    return "{" + items + "}"


@target("settings", 3, run_settings)
def make_settings(rng: random.Random) -> bytes:
    """Generated btfembed.toml / pyproject.toml settings files"""
    lines = []
    pyproject = rng.random() < 0.3
    if pyproject:
        lines.append(rng.choice(("[tool.btfembed]", "[tool]", "tool = 1", "[tool.btfembed.x]", "")))
    for _ in range(rng.randint(0, 6)):
        r = rng.random()
        if r < 0.7:
            lines.append(f"{rng.choice(_SETTING_KEYS)} = {_toml_value(rng)}")
        elif r < 0.85:
            lines.append(rng.choice(("[[kernels]]", "[kernels]", "[[tool.btfembed.build.kernels]]")))
            lines.append(f"path = {_toml_value(rng)}")
            lines.append(f"{rng.choice(('release', 'arch', 'distro', 'distro_version', 'bogus'))} = {_toml_value(rng)}")
        elif r < 0.9:
            depth = rng.choice((10, 500, 3000))
            lines.append(f"objects = {'[' * depth}{']' * depth}")
        elif r < 0.95:
            depth = rng.choice((10, 500, 3000))
            lines.append("x = " + "{a = " * depth + "1" + "}" * depth)
        else:
            lines.append(rng.choice(("= 1", "[", "a = ", "\x00", "\udcff", "key = 'unterminated")))
    text = "\n".join(lines).encode("utf-8", "surrogateescape")
    if rng.random() < 0.15:
        text = mutate_bytes(rng, text, 3)
    return (b"p" if pyproject else b"b") + text


def run_manifest(data: bytes) -> None:
    from btfembed.build.kernels import discover
    from btfembed.build.settings import KernelSpec

    d = scratch_dir()
    path = os.path.join(d, "manifest.toml" if data[:1] == b"t" else "manifest.tsv")
    with open(path, "wb") as f:
        f.write(data[1:])
    kernels = attempt(discover, [KernelSpec(path)])
    for k in kernels or ():
        k.key.path()


@target("manifest", 2, run_manifest)
def make_manifest(rng: random.Random) -> bytes:
    """Generated kernel manifests (.tsv and .toml)"""
    cols = ("path", "file", "release", "arch", "distro", "distro_version", "version", "bogus", "")
    values = ("5.4.0-91-generic.btf", "../../x.btf", "/abs.btf", "", " ", "5.4.0", "..", ".", "a/b", "x\\y",
              "x86_64", "aarch64", "ubuntu", "20.04", "\x00", "\x01", "\udcff", '"', '"quoted\t"', "x" * 300,
              "\u2028")
    if rng.random() < 0.6:
        header = [rng.choice(cols) for _ in range(rng.randint(0, 6))]
        if rng.random() < 0.7:
            header[:0] = ["path", "release"]
        rows = ["\t".join(header)]
        for _ in range(rng.randint(0, 5)):
            n = rng.randint(0, len(header) + 1)
            rows.append("\t".join(rng.choice(values) for _ in range(n)))
        if rng.random() < 0.05:
            rows.append("p\t" + "x" * 140_000)
        text = rng.choice(("\n", "\r\n", "\r")).join(rows)
        kind = b"v"
    else:
        entries = []
        for _ in range(rng.randint(0, 4)):
            entries.append(rng.choice(("[[kernel]]", "[[kernels]]", "[kernel]", "kernel = 1")))
            for _ in range(rng.randint(0, 4)):
                entries.append(f"{rng.choice(cols) or 'x'} = {_toml_value(rng)}")
        if rng.random() < 0.05:
            entries.append("kernel = " + "[" * 3000 + "]" * 3000)
        text = "\n".join(entries)
        kind = b"t"
    data = text.encode("utf-8", "surrogateescape")
    if rng.random() < 0.1:
        data = mutate_bytes(rng, data, 3)
    return kind + data


# -- the CO-RE engine end to end --------------------------------------------------------


def run_core_input(data: bytes) -> None:
    obj_bytes, kernel_bytes = unpack_pair(data)
    obj = BpfObject(obj_bytes, source="fuzz.o")
    kernel = BTF(kernel_bytes, source="fuzz-kernel")
    attempt(parse_local_specs, obj.btf, obj.relocations)
    run_core(obj, CoreTarget(kernel))


def _core_pairs() -> list[tuple[str, bytes]]:
    """(object name, kernel BTF) seed pairs."""
    def make():
        pairs = []
        real = SEEDS.minimized_real
        for name in SEEDS.objects:
            if name in real:
                pairs.append((name, real[name]))
            elif name.startswith("synth_") or name.startswith("no_core"):
                for k in SEEDS.synth_btfs.values():
                    pairs.append((name, k))
        return pairs
    return SEEDS._get("core_pairs", make)


@target("core", 10, run_core_input)
def make_core(rng: random.Random) -> bytes:
    """Real objects against mutated (still parsable) kernel BTF"""
    name, kernel = rng.choice(_core_pairs())
    obj = SEEDS.objects[name]
    lay = SEEDS.layout(kernel)
    r = rng.random()
    if r < 0.75 and lay is not None:
        kernel = mutate_btf_words(rng, kernel, lay, max_ops=rng.choice((1, 2, 4, 8)))
    elif r < 0.85:
        kernel = mutate_btf(rng, kernel, lay)
    if rng.random() < 0.15:
        obj = mutate_object(rng, obj)
    return pack_pair(obj, kernel)


def make_split(kernel: BTF, types: list[Type]) -> bytes:
    """Module (split) BTF holding ``types`` on top of ``kernel``: their ids
    are shifted past the kernel's, and id 1 of ``types`` may refer to the
    kernel's types through ids below the shift."""
    from btfembed.btf.strings import StringTableBuilder
    from btfembed.btf.types import encode_words

    shift = kernel.type_cnt - 1
    base_len = len(kernel.strings)
    strs = StringTableBuilder()
    b = Builder(strings=strs)
    for t in types:
        b.add_words(encode_words(t, lambda name, _old: base_len + strs.add(name) if name else 0,
                                 lambda ref: ref + shift if ref else 0))
    return b.to_bytes(byte_order=kernel.byte_order)


def run_core_module(data: bytes) -> None:
    obj_bytes, rest = unpack_pair(data)
    kernel_bytes, module_bytes = unpack_pair(rest)
    obj = BpfObject(obj_bytes, source="fuzz.o")
    kernel = BTF(kernel_bytes, source="fuzz-kernel")
    module = BTF(module_bytes, base=kernel, source="fuzz-module")
    run_core(obj, CoreTarget(kernel, (module,)))


def _module_seeds() -> list[tuple[bytes, bytes]]:
    """(kernel, module) pairs: a small kernel, and a synthetic kernel's types
    as a module on top of it (some also in the kernel: vmlinux comes first)."""
    def make():
        out = []
        for name in ("base.btf", "fwd_tag.btf", "dup_equal.btf", "fields_nested.btf"):
            full = BTF(SEEDS.synth_btfs[name])
            types = [full.type(t) for t in full.ids()]
            for keep in (0, 5):
                kb = Builder()
                kb.add_int("int", 4, 1)
                kb.add_int("long", 8, 1)
                for t in types[:keep]:
                    kb.add(t, lambda ref: 0)
                kernel = BTF(kb.to_bytes())
                out.append((kernel.raw, make_split(kernel, types)))
        return out
    return SEEDS._get("module_seeds", make)


@target("core_module", 4, run_core_module)
def make_core_module(rng: random.Random) -> bytes:
    """Objects against a kernel plus mutated module (split) BTF"""
    kernel, module = rng.choice(_module_seeds())
    obj_name = rng.choice([n for n in SEEDS.objects if n.startswith("synth_")])
    obj = SEEDS.objects[obj_name]
    r = rng.random()
    if r < 0.7:
        lay = SEEDS.layout(module, BTF(kernel))
        if lay is not None:
            module = mutate_btf_words(rng, module, lay, max_ops=rng.choice((1, 2, 4)))
    elif r < 0.85:
        module = mutate_btf(rng, module, None)
    elif r < 0.95:
        lay = SEEDS.layout(kernel)
        kernel = mutate_btf_words(rng, kernel, lay) if lay else kernel
    return pack_pair(obj, pack_pair(kernel, module))


def random_object(rng: random.Random) -> tuple[bytes, Builder, int]:
    """A generated BPF object: random local BTF and CO-RE records whose
    access strings mostly follow real member paths."""
    b, n = random_btf(rng, rng.randint(2, 30))
    order = rng.choice(("little", "big"))
    sec_off = b.strings.add(rng.choice(("kprobe/x", "tp/y", ".text")))
    try:  # dangling references make it BTF that the reader refuses at open
        local: BTF | None = BTF(b.to_bytes(byte_order=order))
    except BTFEmbedError:
        local = None
    records = []
    for _ in range(rng.randint(1, 12)):
        root = rng.randint(1, n) if rng.random() < 0.95 else rng.choice((0, n + 1, 0xFFFFFFFF))
        kind = rng.choice(tuple(range(13)) * 4 + (13, 200))
        path = _random_path(rng, local, root) if local is not None else [rng.choice((0, 1))]
        access = ":".join(map(str, path))
        records.append((sec_off, 8 * rng.randrange(64) + (0 if rng.random() < 0.97 else 3), root,
                        b.strings.add(access), kind))
    btf = b.to_bytes(byte_order=order)
    ext = make_ext(records, order=order)
    return make_elf([(".text", bytes(512)), (".BTF", btf), (".BTF.ext", ext)], order=order), b, n


def _random_path(rng: random.Random, btf: BTF, root: int) -> list[int]:
    path = [rng.choice((0, 0, 0, 1))]
    tid = root
    for _ in range(rng.randint(0, 5)):
        try:
            tid = btf.skip_mods_and_typedefs(tid)
            t = btf.type(tid)
        except BTFEmbedError:
            break
        if t.kind in (wire.STRUCT, wire.UNION) and t.vlen:
            i = rng.randrange(t.vlen)
            path.append(i)
            tid = t.members[i].type
        elif t.kind == wire.ARRAY:
            path.append(rng.randrange(max(min(t.nelems, 4), 1)))
            tid = t.elem_type
        elif t.kind in (wire.ENUM, wire.ENUM64):
            path = [rng.randrange(max(t.vlen, 1))]
            break
        else:
            break
    if rng.random() < 0.1:
        path.append(rng.choice((0, 1, 99, 0x7FFFFFFF)))
    return path


@target("core_gen", 6, run_core_input)
def make_core_gen(rng: random.Random) -> bytes:
    """Generated objects against generated or mutated target BTF"""
    obj, b, _n = random_object(rng)
    local_raw = b.to_bytes()
    r = rng.random()
    if r < 0.4:
        kernel = local_raw  # the object's own types: everything has a candidate
        lay = layout_of(kernel)
        if lay is not None:
            kernel = mutate_btf_words(rng, kernel, lay, max_ops=rng.randint(1, 6))
    elif r < 0.8:
        kernel, _ = random_btf(rng, rng.randint(2, 40))
        kernel = kernel.to_bytes(byte_order=rng.choice(("little", "big")))
    else:
        kernel = rng.choice(list(SEEDS.synth_btfs.values()))
    return pack_pair(obj, kernel)


# ---------------------------------------------------------------------------
# Regression inputs


def regression_files(root: Path = FUZZ_DIR) -> list[tuple[str, Path]]:
    """(target, file) for every saved input under ``tests/data/fuzz/<target>/``."""
    out = []
    if root.is_dir():
        for d in sorted(p for p in root.iterdir() if p.is_dir() and p.name in TARGETS):
            out += [(d.name, f) for f in sorted(d.iterdir()) if f.is_file() and not f.name.startswith(".")]
    return out


def save_input(target_name: str, data: bytes, root: Path = FUZZ_DIR) -> Path:
    d = root / target_name
    d.mkdir(parents=True, exist_ok=True)
    path = d / (hashlib.sha256(data).hexdigest()[:16] + ".bin")
    if not path.exists():
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
    return path


def input_rng(seed: int, index: int) -> random.Random:
    return random.Random(f"btfembed-fuzz/{seed}/{index}")


# ---------------------------------------------------------------------------
# Driver


def fuzz(iterations: int, seed: int, targets: list[str], timeout: float, save: bool, verbose: bool,
         per_signature: int = 3, index: int | None = None) -> int:
    weights = [TARGETS[t].weight for t in targets]
    picker = random.Random(f"btfembed-fuzz/{seed}/targets")
    counts: collections.Counter[str] = collections.Counter()
    failures: dict[str, list] = {}
    times: collections.Counter[str] = collections.Counter()
    outcomes: collections.Counter[tuple[str, str]] = collections.Counter()
    slowest: dict[str, tuple[float, int]] = {}
    start = time.monotonic()
    indices = range(iterations) if index is None else [index]
    schedule = picker.choices(targets, weights, k=iterations) if index is None else []
    last_report = start
    interrupted = False
    # SIGTERM ends the run like Ctrl-C: with the summary of what ran.
    old_term = signal.signal(signal.SIGTERM, _terminate) if index is None else None
    try:
        for n, i in enumerate(indices):
            name = schedule[i] if index is None else targets[0]
            t = TARGETS[name]
            rng = input_rng(seed, i)
            data = t.make(rng)
            t0 = time.monotonic()
            outcome, fail = classify(t.run, data, timeout)
            dt = time.monotonic() - t0
            outcomes[name, outcome] += 1
            times[name] += dt
            if dt > slowest.get(name, (0, 0))[0]:
                slowest[name] = (dt, i)
            counts[name] += 1
            if fail is not None:
                entry = failures.setdefault(fail.signature, [fail, 0, []])
                entry[1] += 1
                if save and len(entry[2]) < per_signature:
                    entry[2].append((name, i, save_input(name, data)))
                elif not save and len(entry[2]) < per_signature:
                    entry[2].append((name, i, None))
                if verbose:
                    print(f"FAIL {name} #{i}: {fail.signature}: {fail.message}", flush=True)
            now = time.monotonic()
            if now - last_report > 30 and index is None:
                last_report = now
                print(f"  ... {n + 1}/{iterations} inputs, {sum(e[1] for e in failures.values())} failures, "
                      f"{now - start:.0f} s", flush=True)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        if old_term is not None:
            signal.signal(signal.SIGTERM, old_term)
    elapsed = time.monotonic() - start
    total_fail = sum(e[1] for e in failures.values())
    print(f"{'target':<12} {'inputs':>8} {'accepted':>9} {'refused':>8} {'failed':>7} {'time (s)':>9} "
          f"{'slowest (s)':>12}")
    for name in targets:
        if counts[name]:
            slow, at = slowest.get(name, (0.0, 0))
            print(f"{name:<12} {counts[name]:>8} {outcomes[name, 'accepted']:>9} {outcomes[name, 'refused']:>8} "
                  f"{outcomes[name, 'failed']:>7} {times[name]:>9.1f} {slow:>8.2f} #{at}")
    total = {k: sum(v for (_, o), v in outcomes.items() if o == k) for k in ("accepted", "refused", "failed")}
    print(f"{'total':<12} {sum(counts.values()):>8} {total['accepted']:>9} {total['refused']:>8} "
          f"{total['failed']:>7} {elapsed:>9.1f}   (seed {seed}, wall time)")
    if interrupted:
        print(f"interrupted after {sum(counts.values())} of {iterations} inputs")
    print(f"failures: {total_fail} inputs, {len(failures)} distinct")
    for sig, (fail, count, saved) in sorted(failures.items(), key=lambda kv: -kv[1][1]):
        print(f"\n{count} x {sig}\n  {fail.kind}: {fail.message}")
        for name, i, path in saved:
            where = os.path.relpath(path, REPO) if path else "(not saved)"
            print(f"  input: --target {name} --index {i} --seed {seed} -> {where}")
        if verbose:
            print("  " + fail.trace.replace("\n", "\n  "))
    return 1 if failures else 130 if interrupted else 0


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def replay(paths: list[Path], timeout: float) -> int:
    bad = 0
    for path in paths:
        name = path.parent.name
        if name not in TARGETS:
            print(f"{path}: unknown target directory {name!r}")
            bad += 1
            continue
        fail = check(TARGETS[name].run, path.read_bytes(), timeout)
        print(f"{path}: {'ok' if fail is None else fail.signature + ': ' + fail.message}")
        if fail is not None:
            print(fail.trace)
            bad += 1
    return 1 if bad else 0


def run_atheris(name: str, argv: list[str]) -> int:  # pragma: no cover - optional dependency
    import atheris  # type: ignore[import-not-found]

    t = TARGETS[name]

    def one(data: bytes) -> None:
        fail = check(t.run, data, DEFAULT_TIMEOUT)
        if fail is not None:
            save_input(name, data)
            raise RuntimeError(f"{fail.signature}: {fail.message}\n{fail.trace}")

    if not any(not a.startswith("-") for a in argv):
        # No corpus directory given: start from 64 generated inputs.
        import tempfile
        corpus = tempfile.mkdtemp(prefix=f"btfembed-atheris-{name}-")
        for i in range(64):
            Path(corpus, f"seed{i}").write_bytes(t.make(input_rng(0, i)))
        argv = [*argv, corpus]
        print(f"corpus: {corpus}", flush=True)
    atheris.instrument_all()  # coverage feedback for the (already imported) btfembed code
    atheris.Setup([sys.argv[0], *argv], one)
    atheris.Fuzz()
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-n", "--iterations", type=int, default=100_000, help="inputs to run (default 100000)")
    p.add_argument("-s", "--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("-t", "--target", action="append", choices=sorted(TARGETS),
                   help="only these targets (repeatable; default: all)")
    p.add_argument("--index", type=int, help="run only input number INDEX of --target (reproduce a failure)")
    p.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds per input (default 10)")
    p.add_argument("--no-save", action="store_true", help="do not write failing inputs to tests/data/fuzz/")
    p.add_argument("--per-signature", type=int, default=3, metavar="N",
                   help="save at most N inputs per distinct failure (default 3)")
    p.add_argument("--replay", nargs="*", metavar="FILE", help="check saved inputs (default: all regression files)")
    p.add_argument("--list", action="store_true", help="list the targets")
    p.add_argument("--atheris", metavar="TARGET", choices=sorted(TARGETS),
                   help="fuzz TARGET with atheris (libFuzzer); remaining arguments go to libFuzzer")
    p.add_argument("-v", "--verbose", action="store_true")
    args, rest = p.parse_known_args(argv)
    if args.list:
        for t in TARGETS.values():
            print(f"{t.name:<12} weight {t.weight:>4g}  {t.doc}")
        return 0
    if args.atheris:
        return run_atheris(args.atheris, rest)
    if rest:
        p.error(f"unrecognized arguments: {' '.join(rest)}")
    if args.replay is not None:
        paths = [Path(f) for f in args.replay] or [f for _, f in regression_files()]
        return replay(paths, args.timeout)
    targets = args.target or list(TARGETS)
    if args.index is not None and len(targets) != 1:
        p.error("--index needs exactly one --target")
    return fuzz(args.iterations, args.seed, targets, args.timeout, not args.no_save, args.verbose,
                per_signature=args.per_signature, index=args.index)


if __name__ == "__main__":
    sys.exit(main())
