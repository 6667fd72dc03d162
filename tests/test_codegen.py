"""``btfembed generate`` and btfembed.embed.codegen: what the generated C and
Python contain (exact bytes and keys, nasty strings included), that it
compiles warning-free with gcc and clang, that two prefixes link into one
program, determinism, validation, and the command line (depfile, mtime)."""

from __future__ import annotations

import os
import random
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from btfembed import __version__
from btfembed.cli import main
from btfembed.embed.codegen import (
    c_output_paths, default_prefix, generate_c, generate_python, write_c, write_depfile, write_python,
)
from btfembed.embed.codegen._table import canonical_table
from btfembed.embed.codegen.c import c_bytes_literals, c_string_literal
from btfembed.errors import ConfigError
from btfembed.embed.keys import KernelKey
from btfembed.embed.pack import Pack, build_pack, write_pack

from test_runtime_rules import INCLUDE, compile_c, compiler, rules_items

NASTY = [
    '5.4.0-"quoted"',
    "back\\slash\\",
    "new\nline\r\ttab",
    "??=??/??'??(??)??!??<??>??-",
    "ünïcödé-дебиан-😀",
    "*/ /* // comment",
    "\x01\x7f\x1b[0m ctrl",
    "%s%n%x",
    "0\\0\\1777",
    "x" * 255,
]

DUMP_C = r"""
#include "gen.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void hex(const void *p, size_t n)
{
	const unsigned char *c = (const unsigned char *)p;
	size_t i;

	for (i = 0; i < n; i++)
		printf("%02x", c[i]);
}

int main(void)
{
	const struct btfembed_table *t = &cg_btf_table;
	long n = btfembed_count(t), i;
	int f;

	printf("kernels %ld check %d\n", n, btfembed_check(t, 1));
	for (i = 0; i < n; i++) {
		const char *fields[4];
		unsigned int blob;
		void *data;
		size_t size;
		if (btfembed_entry(t, (size_t)i, fields, &blob) || btfembed_entry_blob(t, (size_t)i, &data, &size))
			return 1;
		printf("k");
		for (f = 0; f < 4; f++) {
			printf(" ");
			hex(fields[f], strlen(fields[f]));
		}
		printf(" %u ", blob);
		hex(data, size);
		printf("\n");
		free(data);
	}
	return 0;
}
"""

CODEC_LIBS = {"none": (), "zlib": ("-lz",), "xz": ("-llzma",), "zstd": ("-lzstd",)}


def dump_table(tmp: Path, pack, *, codec: str, cc: str = "gcc", flags: tuple = ()) -> list:
    """Compile the generated table with a program printing it; return
    [(key, blob)] as read back from C (btfembed_entry / _entry_blob)."""
    cc = compiler(cc)
    tmp.mkdir(parents=True, exist_ok=True)
    c_path, _ = write_c(pack, str(tmp / "gen"), prefix="cg", codec=codec, block_size=3000)
    (tmp / "dump.c").write_text(DUMP_C)
    exe = compile_c(cc, tmp / "dump", [tmp / "dump.c", c_path, INCLUDE / "btfembed.c"], flags=(f"-I{tmp}", *flags),
                    libs=CODEC_LIBS[codec])
    out = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout.splitlines()
    assert out[0].endswith(" check 0")
    got = []
    for line in out[1:]:
        _, *rest = line.split(" ")
        key = tuple(bytes.fromhex(f).decode("utf-8") for f in rest[:4])
        got.append((key, bytes.fromhex(rest[5])))
    return got


def nasty_pack() -> Pack:
    blob = rules_items()[0][1]
    items = []
    for i, s in enumerate(NASTY):
        items.append((KernelKey("x86_64", s, f"v{i}", f"r-{s}"[:255]), blob))
        items.append((KernelKey("arm64", "d", s, f"rel{i}"), blob + bytes([i])))
    return build_pack(items)


def tricky_blobs() -> list[bytes]:
    """Blobs that stress the literal encoder: every byte value, octal digits
    after escapes, '?' runs, quotes and backslashes, lines full of escapes."""
    rng = random.Random(5)
    alphabet = list(b"01234567" * 4 + b"89?\\\"'\0\n\r\t\x7f\xff a") + list(range(256))
    out = [bytes(range(256)), b"\0" + b"0" * 100, b"??=" * 50, b"\\" * 77, bytes([0o377]) + b"7" * 3,
           b"\x01" * 300 + b"1"]
    for n in range(40):
        out.append(bytes(rng.choice(alphabet) for _ in range(rng.randint(1, 700))))
    return out


# ---------------------------------------------------------------------------
# Exact content


@pytest.mark.parametrize("codec", ["none", "zlib", "xz", "zstd"])
def test_c_table_reads_back_exactly(tmp_path: Path, codec: str) -> None:
    blobs = tricky_blobs()
    items = [(KernelKey("x86_64", "d", "1", f"r{i:03}"), b) for i, b in enumerate(blobs)]
    items += [(k, b) for k, b in nasty_pack().mapping().items()]
    pack = build_pack(items)
    got = dump_table(tmp_path, pack, codec=codec)
    table = canonical_table(pack)
    assert got == [(tuple(k), table.blobs[i]) for k, i in table.kernels]


def test_nasty_keys_in_python_module(tmp_path: Path) -> None:
    pack = nasty_pack()
    write_python(pack, str(tmp_path / "nasty_btf.py"))
    sys.path.insert(0, str(tmp_path))
    try:
        import nasty_btf
        assert nasty_btf.kernels() == [tuple(k) for k, _ in canonical_table(pack).kernels]
        key = KernelKey("x86_64", NASTY[3], "v3", f"r-{NASTY[3]}")
        osr = tmp_path / "osr"
        osr.write_bytes(f'ID="{NASTY[3]}"\nVERSION_ID=v3\n'.encode())
        assert nasty_btf.find_btf(os_release=str(osr), release=key.release, machine="x86_64", force=True,
                                  use_env=False) == pack.blob_for(key)
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("nasty_btf", None)


def test_no_trigraphs_or_raw_control_bytes_in_c(tmp_path: Path) -> None:
    c_text, h_text = generate_c(nasty_pack(), prefix="n")
    for text in (c_text, h_text):
        assert "??" not in text
        assert all(ch == "\n" or ch == "\t" or 0x20 <= ord(ch) < 0x7F for ch in text)


def test_literal_helpers() -> None:
    assert c_string_literal('a"b\\c?\n\0'[:-1]) == '"a\\"b\\\\c\\?\\12"'
    assert c_bytes_literals(b"\x001") == '\t"\\0001"'
    assert c_bytes_literals(b"\x00a") == '\t"\\0a"'
    assert c_bytes_literals(b"\x008") == '\t"\\08"'
    with pytest.raises(ConfigError):
        c_string_literal("a\0b")
    lines = c_bytes_literals(bytes(1000)).split("\n")
    assert all(len(line) <= 80 for line in lines)


# ---------------------------------------------------------------------------
# Compiling


@pytest.mark.parametrize("cc", ["gcc", "clang"])
@pytest.mark.parametrize("std", ["c99", "c11"])
@pytest.mark.parametrize("codec", ["none", "zlib", "xz", "zstd"])
def test_generated_c_compiles_warning_free(tmp_path: Path, cc: str, std: str, codec: str) -> None:
    cc = compiler(cc)
    pack = build_pack(rules_items())
    c_path, h_path = write_c(pack, str(tmp_path / "gen"), prefix="w", codec=codec)
    main_c = tmp_path / "main.c"
    main_c.write_text('#include "gen.h"\nint main(void)\n{\n\tstruct btfembed_btf b;\n'
                      '\tint rc = w_btf_path(&b);\n\tbtfembed_release(&b);\n\treturn rc < 0;\n}\n')
    cmd = [cc, f"-std={std}", "-O2", "-Wall", "-Wextra", "-Wpedantic", "-Wshadow", "-Wstrict-prototypes",
           "-Wmissing-prototypes", "-Wcast-qual", "-Werror", f"-I{INCLUDE}", f"-I{tmp_path}",
           "-o", str(tmp_path / "main"), str(main_c), c_path, *CODEC_LIBS[codec]]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    assert subprocess.run([str(tmp_path / "main")]).returncode == 0


def test_uncompressed_output_does_not_need_zlib(tmp_path: Path) -> None:
    c_text, _ = generate_c(build_pack(rules_items()), prefix="u", codec="none")
    body = c_text.split("*/", 1)[1]
    assert "zlib" not in body and "uncompress" not in body and "lzma" not in body
    runtime_c = (INCLUDE / "btfembed.c").read_text()
    for word in ("zlib.h", "lzma.h", "zstd.h", "uncompress(", "lzma_", "ZSTD_"):
        assert word not in runtime_c


def test_two_prefixes_link_into_one_program(tmp_path: Path) -> None:
    cc = compiler("gcc")
    items = rules_items()
    c1, _ = write_c(build_pack(items[:3]), str(tmp_path / "one"), prefix="one")
    c2, _ = write_c(build_pack(items[2:]), str(tmp_path / "two"), prefix="two", compress=True)
    main_c = tmp_path / "main.c"
    main_c.write_text(r'''
#include "one.h"
#include "two.h"
#include <stdio.h>
int main(void)
{
	printf("%ld %ld\n", btfembed_count(&one_btf_table), btfembed_count(&two_btf_table));
	return 0;
}
''')
    exe = compile_c(cc, tmp_path / "main", [main_c, c1, c2, INCLUDE / "btfembed.c"],
                    flags=(f"-I{tmp_path}",), libs=("-lz",))
    assert subprocess.run([str(exe)], capture_output=True, text=True).stdout.split() == ["3", "4"]
    for obj, p in ((c1, "one"), (c2, "two")):
        o = tmp_path / f"{p}.o"
        subprocess.run([cc, f"-I{INCLUDE}", "-O2", "-c", obj, "-o", str(o)], check=True)
        nm = subprocess.run(["nm", "-g", "--defined-only", str(o)], capture_output=True, text=True, check=True)
        exported = sorted(line.split()[-1] for line in nm.stdout.splitlines())
        assert exported == [f"{p}_btf_path", f"{p}_btf_path_opts", f"{p}_btf_table", f"{p}_check_object"]


def test_empty_pack(tmp_path: Path) -> None:
    assert dump_table(tmp_path, Pack((), ()), codec="none") == []


# ---------------------------------------------------------------------------
# Determinism and validation


def test_deterministic_in_any_order(tmp_path: Path, monkeypatch) -> None:
    items = rules_items()
    a = build_pack(items)
    b = build_pack(list(reversed(items)))
    # The same content with blobs numbered differently and kernels unsorted.
    blobs = list(reversed(a.blobs))
    c = Pack(tuple((k, blobs.index(a.blobs[i])) for k, i in reversed(a.kernels)), tuple(blobs))
    for compress in (False, True):
        outs = {generate_c(p, prefix="d", compress=compress) for p in (a, b, c)}
        assert len(outs) == 1
        assert len({generate_python(p, data_file="x.btfpack", compress=compress) for p in (a, b, c)}) == 1
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1")
    assert generate_c(a, prefix="d") == next(iter({generate_c(b, prefix="d")}))
    # Files: byte-identical, no paths.
    for n in (1, 2):
        write_c(a, str(tmp_path / f"o{n}" / "gen"), prefix="d", compress=True)
        write_python(a, str(tmp_path / f"o{n}" / "gen.py"))
    for name in ("gen.c", "gen.h", "gen.py", "gen.btfpack"):
        one, two = (tmp_path / "o1" / name).read_bytes(), (tmp_path / "o2" / name).read_bytes()
        assert one == two and str(tmp_path).encode() not in one
    assert f"btfembed {__version__}" in (tmp_path / "o1" / "gen.c").read_text()
    assert "do not edit" in (tmp_path / "o1" / "gen.py").read_text()


def test_arch_names_are_normalized() -> None:
    blob = rules_items()[0][1]
    pack = build_pack([(KernelKey("aarch64", "d", "1", "r"), blob), (KernelKey("amd64", "d", "1", "r"), blob)])
    assert [k.arch for k, _ in canonical_table(pack).kernels] == ["arm64", "x86_64"]
    clash = build_pack([(KernelKey("aarch64", "d", "1", "r"), blob), (KernelKey("arm64", "d", "1", "r"), blob + b"x")])
    with pytest.raises(ConfigError, match="two different blobs"):
        generate_c(clash, prefix="x")


@pytest.mark.parametrize("key,blob,match", [
    (KernelKey("x86_64", "de\0b", "1", "r"), b"x", "NUL"),
    (KernelKey("x86_64", "d", "1", "r" * 256), b"x", "longer than 255"),
    (KernelKey("x86_64", "d", "1", "é" * 128), b"x", "longer than 255"),
    (KernelKey("x86_64", "d", "1", ""), b"x", "must not be empty"),
    (KernelKey("", "d", "1", "r"), b"x", "must not be empty"),
    (KernelKey("x86_64", "d", "1", "r"), b"", "empty BTF blob"),
])
def test_invalid_keys_are_refused(key, blob, match) -> None:
    pack = Pack(((key, 0),), (blob,))
    with pytest.raises(ConfigError, match=match):
        generate_c(pack, prefix="x")
    with pytest.raises(ConfigError, match=match):
        generate_python(pack, data_file="x.btfpack")


@pytest.mark.parametrize("prefix", ["", "1abc", "a-b", "a b", "btfembed", "btfembed__x", "é"])
def test_bad_prefixes(prefix: str) -> None:
    with pytest.raises(ConfigError):
        generate_c(Pack((), ()), prefix=prefix)


def test_default_prefix_and_paths() -> None:
    assert default_prefix("gen/my-tool_btf.c") == "my_tool"
    assert default_prefix("gen/foo_btf") == "foo" and default_prefix("btf") == "btf"
    assert default_prefix("_btf") == "_btf" and default_prefix("out/btfembed_btf") == "gen_btfembed"
    assert default_prefix("9lives") == "_9lives"
    assert default_prefix("out/btfembed") == "gen_btfembed"
    assert c_output_paths("a/b.h") == ("a/b.c", "a/b.h") == c_output_paths("a/b")


# ---------------------------------------------------------------------------
# Command line


@pytest.fixture
def pack_file(tmp_path: Path) -> Path:
    path = tmp_path / "in put.pack"
    write_pack(str(path), build_pack(rules_items()))
    return path


def test_cli_generate_c_with_depfile(pack_file: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["generate", str(pack_file), "--lang", "c", "--output", "out/x#y$z", "--prefix", "xy",
                 "--compress", "--depfile", "out/x.d"]) == 0
    assert Path("out/x#y$z.c").exists() and Path("out/x#y$z.h").exists()
    dep = Path("out/x.d").read_text()
    assert dep == "out/x\\#y$$z.c: " + str(pack_file).replace(" ", "\\ ") + "\n"
    assert "xy_btf_path" in Path("out/x#y$z.h").read_text()
    assert "xy_decode" in Path("out/x#y$z.c").read_text() and "uncompress(" in Path("out/x#y$z.c").read_text()
    assert sorted(os.listdir("out")) == ["x#y$z.c", "x#y$z.h", "x.d"]   # no temporary files left


def test_cli_generate_python(pack_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "pkg" / "_btf.py"
    assert main(["generate", str(pack_file), "--output", str(out), "--depfile", str(tmp_path / "d")]) == 0
    assert out.exists() and (tmp_path / "pkg" / "_btf.btfpack").exists()
    assert (tmp_path / "d").read_text().startswith(f"{out}: ")


def test_cli_always_bumps_mtime(pack_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "g"
    argv = ["generate", str(pack_file), "--lang", "c", "-o", str(out)]
    assert main(argv) == 0
    before = {p: p.read_bytes() for p in (tmp_path / "g.c", tmp_path / "g.h")}
    old = time.time() - 1000
    for p in before:
        os.utime(p, (old, old))
    assert main(argv) == 0
    for p, content in before.items():
        assert p.read_bytes() == content and p.stat().st_mtime > old + 500


@pytest.mark.parametrize("argv,code,msg", [
    (["--lang", "python", "--prefix", "p"], 2, "--prefix applies to --lang c only"),
    (["--prefix", "btfembed"], 2, "reserved"),
    (["--prefix", "1x"], 2, "not a C identifier"),
    (["--lang", "python", "-o", "bad-name.py"], 2, "not a valid Python module name"),
])
def test_cli_usage_errors(pack_file: Path, tmp_path: Path, capsys, argv, code, msg) -> None:
    if "-o" not in argv:
        argv = argv + ["-o", str(tmp_path / "o")]
    assert main(["generate", str(pack_file), *argv]) == code
    assert msg in capsys.readouterr().err


def test_cli_input_errors(tmp_path: Path, capsys) -> None:
    assert main(["generate", str(tmp_path / "missing.pack"), "-o", str(tmp_path / "o")]) == 4
    bad = tmp_path / "bad.pack"
    bad.write_bytes(b"not a pack")
    assert main(["generate", str(bad), "-o", str(tmp_path / "o")]) == 3
    assert "not a valid btfembed pack" in capsys.readouterr().err
    assert not (tmp_path / "o.c").exists()


def test_cli_help_has_examples(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["generate", "--help"])
    text = capsys.readouterr().out
    assert "examples:" in text and "--lang python" in text and "btfembed --includedir" in text


def test_includedir_has_the_runtime(capsys) -> None:
    assert main(["--includedir"]) == 0
    d = Path(capsys.readouterr().out.strip())
    assert (d / "btfembed.h").is_file() and (d / "btfembed.c").is_file()


def test_depfile_escaping(tmp_path: Path) -> None:
    write_depfile(str(tmp_path / "d"), "a b#c$.c", [str(tmp_path / "x y"), "/abs/p#q"])
    assert (tmp_path / "d").read_text() == f"a\\ b\\#c$$.c: {tmp_path}/x\\ y \\\n  /abs/p\\#q\n"
    with pytest.raises(ConfigError):
        write_depfile(str(tmp_path / "d"), "t", ["a\nb"])
    with pytest.raises(ConfigError):
        write_depfile(str(tmp_path / "d"), "t", [])


def test_python_module_is_valid_and_small(tmp_path: Path) -> None:
    text, data = generate_python(build_pack(rules_items()), data_file="_btf.btfpack")
    compile(text, "_btf.py", "exec")
    assert len(text) < 40_000 and not re.search(r"^from btfembed|^import btfembed", text, re.M)
    with pytest.raises(ConfigError):
        generate_python(build_pack(rules_items()), data_file='x"y')
