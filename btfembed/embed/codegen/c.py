"""C output: ``NAME.c`` (the pack, private runtime) and ``NAME.h``.

The pack (format 3, docs/pack-format.md) is one ``static const char
P_pack[size]`` array initialized from a string literal of exactly ``size``
bytes (no trailing NUL), split into adjacent literals of about 76 columns.
String literals compile 10-25 times faster than ``{0x12, ...}``
initializers, with far less compiler memory (scripts/bench_codegen.py
measures the output).  Bytes are written as themselves when printable
ASCII, otherwise as octal escapes (three digits when an octal digit
follows); ``"``, ``\\`` and ``?`` are escaped, so no trigraph (``??=``)
can form.  ``-Woverlength-strings`` (a -pedantic warning for literals over
4095 bytes) is silenced around the pack with a GCC/clang pragma.

The codec's decompressor is a static ``P_decode`` in NAME.c (zlib's
``uncompress()``, liblzma's ``lzma_stream_buffer_decode()``, libzstd's
``ZSTD_decompress()``), so only NAME.c needs ``-lz`` / ``-llzma`` /
``-lzstd``, and codec none needs nothing.

Every global symbol starts with the prefix: ``P_btf_table``,
``P_btf_path()``, ``P_btf_path_opts()``, ``P_check_object()``.  The runtime
(btfembed.c) is included with ``BTFEMBED_STATIC``, so its functions are
private to NAME.c.
"""

from __future__ import annotations

import re
from typing import Sequence

from btfembed import __version__
from btfembed.embed.codegen._table import PackLike, Table, canonical_table, table_pack_bytes
from btfembed.embed.pack import Pack
from btfembed.errors import ConfigError

__all__ = ["generate_c", "c_string_literal", "c_bytes_literals", "check_prefix", "check_app_ids"]

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_LINE = 76


def _tokens() -> tuple[list[str], list[str]]:
    short, long = [], []
    for b in range(256):
        if b == 0x22:
            s = l = '\\"'
        elif b == 0x5C:
            s = l = "\\\\"
        elif b == 0x3F:  # '?': no trigraphs
            s = l = "\\?"
        elif 0x20 <= b < 0x7F:
            s = l = chr(b)
        else:
            s, l = f"\\{b:o}", f"\\{b:03o}"
        short.append(s)
        long.append(l)
    return short, long


_SHORT, _LONG = _tokens()
_OCTAL_CHARS = frozenset(b"01234567")


def _escape(data: bytes) -> list[str]:
    """One token per byte; an octal escape is padded to three digits when the
    next byte prints as an octal digit (it would extend the escape)."""
    out = []
    n = len(data)
    for i, b in enumerate(data):
        tok = _SHORT[b]
        if tok[0] == "\\" and len(tok) < 4 and tok[1] in "01234567" and i + 1 < n and data[i + 1] in _OCTAL_CHARS:
            tok = _LONG[b]
        out.append(tok)
    return out


def c_string_literal(text: str) -> str:
    """``text`` (UTF-8, no NUL) as one C string literal."""
    data = text.encode("utf-8")
    if b"\0" in data:
        raise ConfigError(f"string {text!r} contains a NUL character")
    return '"' + "".join(_escape(data)) + '"'


def c_bytes_literals(data: bytes, indent: str = "\t", width: int = _LINE) -> str:
    """``data`` as adjacent string literals, one per line (C concatenates
    them after escape processing, so escapes never merge across lines)."""
    if not data:
        return indent + '""'
    lines: list[str] = []
    cur: list[str] = []
    cur_len = 0
    for tok in _escape(data):
        if cur and cur_len + len(tok) > width:
            lines.append(indent + '"' + "".join(cur) + '"')
            cur, cur_len = [], 0
        cur.append(tok)
        cur_len += len(tok)
    lines.append(indent + '"' + "".join(cur) + '"')
    return "\n".join(lines)


def check_prefix(prefix: str) -> str:
    """A prefix must be a C identifier and must not clash with the runtime's
    names: ``btfembed`` itself would make ``btfembed_btf_path``, and
    ``btfembed__*`` is the runtime's internal namespace."""
    if not isinstance(prefix, str) or not _IDENT.match(prefix):
        raise ConfigError(f"prefix {prefix!r} is not a C identifier ([A-Za-z_][A-Za-z0-9_]*)")
    if prefix == "btfembed" or prefix.startswith("btfembed__"):
        raise ConfigError(f"prefix {prefix!r} is reserved for the btfembed runtime; choose another")
    return prefix


_DECODERS = {
    "zlib": ("zlib.h", "-lz", [
        "\tuLongf n = (uLongf)dst_len;",
        "",
        "\tif (codec != BTFEMBED_PACK_CODEC_ZLIB || (size_t)n != dst_len || (size_t)(uLong)src_len != src_len)",
        "\t\treturn -1;",
        "\tif (uncompress((Bytef *)dst, &n, (const Bytef *)src, (uLong)src_len) != Z_OK)",
        "\t\treturn -1;",
        "\treturn (size_t)n == dst_len ? 0 : -1;",
    ]),
    "xz": ("lzma.h", "-llzma", [
        "\tuint64_t memlimit = UINT64_MAX;",
        "\tsize_t in_pos = 0, out_pos = 0;",
        "",
        "\tif (codec != BTFEMBED_PACK_CODEC_XZ)",
        "\t\treturn -1;",
        "\tif (lzma_stream_buffer_decode(&memlimit, 0, NULL, (const uint8_t *)src, &in_pos, src_len,",
        "\t\t\t\t      (uint8_t *)dst, &out_pos, dst_len) != LZMA_OK)",
        "\t\treturn -1;",
        "\treturn in_pos == src_len && out_pos == dst_len ? 0 : -1;",
    ]),
    "zstd": ("zstd.h", "-lzstd", [
        "\tsize_t n;",
        "",
        "\tif (codec != BTFEMBED_PACK_CODEC_ZSTD || ZSTD_getFrameContentSize(src, src_len) != (unsigned long long)dst_len)",
        "\t\treturn -1;",
        "\tn = ZSTD_decompress(dst, dst_len, src, src_len);",
        "\treturn !ZSTD_isError(n) && n == dst_len ? 0 : -1;",
    ]),
}

LINK_LIBS = {"none": "", "zlib": "-lz", "xz": "-llzma", "zstd": "-lzstd"}


def _banner(table: Table, codec: str, pack_size: int, what: str) -> list[str]:
    nk, nb = len(table.kernels), len(table.blobs)
    how = "stored uncompressed" if codec == "none" else f"{codec}-compressed (link with {LINK_LIBS[codec]})"
    return [
        f"/* Generated by btfembed {__version__} (btfembed generate --lang c): {what}.",
        " * Do not edit; regenerate instead.",
        " *",
        f" * Minimized kernel BTF for {nk} kernel{'s' if nk != 1 else ''}: {nb} unique "
        f"blob{'s' if nb != 1 else ''}, {table.raw_size()} bytes raw, in a {pack_size}-byte pack (format 3),",
        f" * {how}.",
        f" * Content sha256: {table.digest()}",
        " */",
    ]


def _codec(compress: bool | None, codec: str | None) -> str:
    if codec is None:
        codec = "none" if compress is False else "zlib"
    if codec not in LINK_LIBS:
        raise ConfigError(f"unknown codec {codec!r} (choose from {', '.join(LINK_LIBS)})")
    return codec


def check_app_ids(app_ids: Sequence[str]) -> tuple[str, ...]:
    """Application ids (build ids or version strings, see
    ``btfembed.embed.appid``): 1-255 printable ASCII characters each;
    duplicates dropped, order kept."""
    out: list[str] = []
    for ident in app_ids:
        if not isinstance(ident, str) or not 0 < len(ident) <= 255 or not all(" " <= c <= "~" for c in ident):
            raise ConfigError(f"application id {ident!r}: use 1 to 255 printable ASCII characters")
        if ident not in out:
            out.append(ident)
    return tuple(out)


def _app_c(p: str, ids: tuple[str, ...]) -> list[str]:
    return [
        "",
        f"/* The applications this table was built for (--userspace): {len(ids)} id(s). */",
        f"extern const char *const {p}_app_ids[{len(ids)}];",
        f"extern const unsigned int {p}_app_count;",
        f"int {p}_matches_app(const char *app_path);",
        f"int {p}_matches_app_id(const char *app_id);",
        "",
        f"const char *const {p}_app_ids[{len(ids)}] = {{",
        *(f"\t{c_string_literal(i)}," for i in ids),
        "};",
        f"const unsigned int {p}_app_count = {len(ids)}u;",
        "",
        f"int {p}_matches_app(const char *app_path)",
        "{",
        f"\treturn btfembed_app_match({p}_app_ids, {len(ids)}u, app_path, NULL, 0);",
        "}",
        "",
        f"int {p}_matches_app_id(const char *app_id)",
        "{",
        f"\treturn btfembed_app_match({p}_app_ids, {len(ids)}u, NULL, app_id, 0);",
        "}",
    ]


def _app_h(p: str, ids: tuple[str, ...]) -> list[str]:
    return [
        "/* Application keys: the ids (GNU build ids, or versions given as",
        f" * --userspace APP=VERSION) of the {len(ids)} application(s) this table was built",
        f" * for.  {p}_matches_app(): 1 when the ELF file app_path's build id is",
        " * one of them, 0 when not, or -errno (btfembed_app_build_id());",
        f" * {p}_matches_app_id() compares a given id.  BTFEMBED_APP=ID and",
        " * BTFEMBED_DEBUG=1 as in btfembed_app_match(). */",
        f"extern const char *const {p}_app_ids[{len(ids)}];",
        f"extern const unsigned int {p}_app_count;",
        f"int {p}_matches_app(const char *app_path);",
        f"int {p}_matches_app_id(const char *app_id);",
        "",
    ]


def generate_c(pack: PackLike, *, prefix: str, compress: bool | None = None, codec: str | None = None,
               block_size: int | None = None, dedup: bool = True, pack_bytes: bytes | None = None,
               app_ids: Sequence[str] = ()) -> tuple[str, str]:
    """Return ``(c_text, h_text)`` for ``pack`` (a ``btfembed.embed.pack.Pack``).

    ``prefix`` starts every global symbol (``<prefix>_btf_path`` ...);
    ``codec``: none, zlib (default; link with -lz), xz (-llzma) or zstd
    (-lzstd); ``compress`` True/False is the older spelling of zlib/none.
    Write the texts to ``NAME.c`` / ``NAME.h`` (see ``write_c``).  The output
    depends only on the pack's content, the options and btfembed's version.
    ``pack_bytes`` embeds those bytes instead of encoding ``pack`` (tests
    use it to embed damaged packs).  ``app_ids``: the applications the pack
    was built for (``btfembed.embed.appid``): adds ``<prefix>_app_ids`` and
    ``<prefix>_matches_app()``; nothing is added without them.
    """
    check_prefix(prefix)
    ids = check_app_ids(app_ids)
    codec = _codec(compress, codec)
    table = canonical_table(pack, dedup=dedup)
    if pack_bytes is None:
        pack_bytes = table_pack_bytes(pack, table, codec=codec, block_size=block_size)
    p = prefix
    nk, nb = len(table.kernels), len(table.blobs)

    c: list[str] = _banner(table, codec, len(pack_bytes), "embedded BTF and its lookup")
    c += [
        "",
        "/* The runtime, private to this file (static functions). */",
        "#define BTFEMBED_STATIC 1",
        '#include "btfembed.c"',
        "",
        "#if !defined(BTFEMBED_TABLE_ABI) || BTFEMBED_TABLE_ABI != 3",
        '#error "btfembed.h/btfembed.c do not match this generated file: use the --includedir of the btfembed that generated it"',
        "#endif",
        "",
    ]
    if codec != "none":
        header, _, body = _DECODERS[codec]
        c += [
            "#include <stdint.h>",
            f"#include <{header}>",
            "",
            f"static int {p}_decode(unsigned int codec, void *dst, size_t dst_len, const void *src, size_t src_len)",
            "{",
            *body,
            "}",
            "",
        ]
    c += [
        "#if defined(__GNUC__)",
        "#pragma GCC diagnostic push",
        '#pragma GCC diagnostic ignored "-Woverlength-strings"',
        "#endif",
        "",
        f"/* Pack format 3 (docs/pack-format.md): {nk} entries, {nb} blobs. */",
        f"static const char {p}_pack[{len(pack_bytes)}] BTFEMBED_NONSTRING =",
        c_bytes_literals(pack_bytes) + ";",
        "",
        "#if defined(__GNUC__)",
        "#pragma GCC diagnostic pop",
        "#endif",
        "",
        f"extern const struct btfembed_table {p}_btf_table;",
        f"int {p}_btf_path(struct btfembed_btf *out);",
        f"int {p}_btf_path_opts(struct btfembed_btf *out, const struct btfembed_options *opt);",
        f"int {p}_check_object(const void *obj, size_t size);",
        "",
        f"static int {p}_checked; /* the runtime sets it once the index is checked */",
        "",
        f"const struct btfembed_table {p}_btf_table = {{",
        "\tBTFEMBED_TABLE_ABI,",
        f"\t(const unsigned char *){p}_pack,",
        f"\t{len(pack_bytes)}u,",
        f"\t{p + '_decode' if codec != 'none' else 'NULL'},",
        f"\t&{p}_checked,",
        "};",
        "",
        f"int {p}_btf_path(struct btfembed_btf *out)",
        "{",
        f"\treturn btfembed_btf_path(&{p}_btf_table, out, NULL);",
        "}",
        "",
        f"int {p}_btf_path_opts(struct btfembed_btf *out, const struct btfembed_options *opt)",
        "{",
        f"\treturn btfembed_btf_path(&{p}_btf_table, out, opt);",
        "}",
        "",
        f"int {p}_check_object(const void *obj, size_t size)",
        "{",
        f"\treturn btfembed_check_object(&{p}_btf_table, obj, size);",
        "}",
    ]
    if ids:
        c += _app_c(p, ids)

    guard = f"BTFEMBED_GEN_{p}_H"
    h: list[str] = _banner(table, codec, len(pack_bytes), "declarations")
    h += [
        f"#ifndef {guard}",
        f"#define {guard}",
        "",
        '#include "btfembed.h"',
        "",
        "#ifdef __cplusplus",
        'extern "C" {',
        "#endif",
        "",
        f"/* {nk} kernel{'s' if nk != 1 else ''}, {nb} blob{'s' if nb != 1 else ''}, codec {codec}. */",
        f"extern const struct btfembed_table {p}_btf_table;",
        "",
        "/* btfembed_btf_path() on this table (see btfembed.h): BTFEMBED_OK with",
        " * out->path set, BTFEMBED_KERNEL_BTF / _NO_MATCH / _AMBIGUOUS with",
        " * out->path NULL, or -errno.  Call btfembed_release(out) when done. */",
        f"int {p}_btf_path(struct btfembed_btf *out);",
        f"int {p}_btf_path_opts(struct btfembed_btf *out, const struct btfembed_options *opt);",
        "",
        "/* Stale-object guard (btfembed_check_object()): 0 when the BPF object",
        " * obj[0..size) is one this BTF was built for, -ESTALE when it is not. */",
        f"int {p}_check_object(const void *obj, size_t size);",
        "",
        *(_app_h(p, ids) if ids else []),
        "#ifdef __cplusplus",
        "}",
        "#endif",
        "",
        f"#endif /* {guard} */",
    ]
    return "\n".join(c) + "\n", "\n".join(h) + "\n"
