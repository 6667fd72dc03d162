"""``btfembed generate``: a pack -> C sources or a Python module."""

from __future__ import annotations

import argparse

from btfembed.errors import ConfigError

HELP = """\
Embed the minimized BTF of PACK (written by 'btfembed build') in a C program
or a Python package, with the runtime that picks the blob of the running
kernel and hands it to libbpf as btf_custom_path.

--lang c writes NAME.c and NAME.h.  NAME.c holds the pack (format 3, see
docs/pack-format.md: unique blobs solid-compressed in blocks, a sorted key
index, SHA-256 digests the runtime checks) and a private copy of the
runtime; compile it with -I"$(btfembed --includedir)" and link the codec's
library (-lz for zlib, the default; -llzma for --codec xz; -lzstd for
--codec zstd; nothing for --codec none).  Every global symbol starts with the prefix
(default: NAME's file name), so several generated files link into one
program:

    struct btfembed_btf btf;
    int rc = P_btf_path(&btf);        /* see btfembed.h for the statuses */
    open_opts.btf_custom_path = btf.path;     /* NULL: the kernel's own BTF */
    ... bpf_object__open_file() / bpf_object__load() ...
    btfembed_release(&btf);

--lang python writes NAME.py and its data file NAME.btfpack (ship both as
package data).  The module needs only the standard library at run time:

    from mypkg import _btf
    with _btf.btf_path() as path:     # None: the kernel has BTF, or no match
        ...                           # load with btf_custom_path=path

--lang go writes a package into the directory NAME: the pack (//go:embed,
zlib; Go's standard library reads no other codec), a runtime using the
standard library only, and, built with -tags btfembed_cilium, KernelSpec()
returning the *btf.Spec for cilium/ebpf's ProgramOptions.KernelTypes:

    spec, decision, err := kbtf.KernelSpec(nil)   // nil spec: kernel's own BTF
    decision, blob, err := kbtf.Lookup(nil)       // or the raw BTF bytes

--lang rust writes NAME.rs and NAME.btfpack (zlib, decoded by the runtime's
own small inflate), std only; lookup() gives the bytes for aya's
Btf::parse, btf_path() a path for libbpf's btf_custom_path (libbpf-rs):

    let (decision, file) = btf::btf_path(&btf::Options::default())?;

At run time BTFEMBED_FORCE=1 uses the embedded BTF even when
/sys/kernel/btf/vmlinux exists; BTFEMBED_KEY=distro/version/arch/release
selects one entry exactly (C, Python); BTFEMBED_HOST_ROOT=/host reads the
host's os-release from a container; BTFEMBED_DEBUG=1 prints the decision
on stderr; BTFEMBED_OS_RELEASE, BTFEMBED_RELEASE,
BTFEMBED_MACHINE, BTFEMBED_SYSFS_BTF and BTFEMBED_NO_MEMFD override the
inputs of the lookup (for tests and unusual systems).

--app APP[=VERSION] (C, Python; repeatable) records the id of an application
the pack was built for with --userspace (its GNU build id, or VERSION), as
'btfembed build --userspace APP --emit' does: P_matches_app(path) in C,
matches_app(path) in Python (BTFEMBED_APP=ID replaces the id read).

Outputs are written atomically and are reproducible (no dates or paths).

examples:
  btfembed generate build/btf.pack --lang c --output build/mytool_btf
  cc -I"$(btfembed --includedir)" -c build/mytool_btf.c -o build/mytool_btf.o
  btfembed generate btf.pack --lang c --output gen/net_btf --prefix net --codec xz   # link -llzma
  btfembed generate btf.pack --lang c --output gen/btf --depfile gen/btf.d            # for Ninja/CMake
  btfembed generate btf.pack --lang python --output src/mypkg/_btf.py
  btfembed generate btf.pack --lang go --output internal/kbtf --go-import-path example.com/tool/internal/kbtf
  btfembed generate btf.pack --lang rust --output src/btf.rs
  btfembed generate btf.pack --lang c --output gen/app_v1_btf --app ./app-v1     # uprobe tables
"""


def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = sub.add_parser("generate", help="embed a pack in C, Python, Go or Rust sources",
                       description=HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("pack", metavar="PACK", help="pack file (from 'btfembed build')")
    p.add_argument("--lang", choices=["c", "python", "go", "rust"], default=None,
                   help="output language (default: python if --output ends in .py, rust if .rs, else c)")
    p.add_argument("--output", "-o", metavar="NAME", required=True,
                   help="C: NAME.c and NAME.h are written (a .c/.h suffix is dropped); "
                        "python: the module path, e.g. src/mypkg/_btf.py (data file NAME.btfpack beside it)")
    p.add_argument("--prefix", metavar="P",
                   help="C only: prefix of every global symbol (P_btf_path, P_btf_table, ...); "
                        "default: NAME's file name made an identifier")
    p.add_argument("--go-package", metavar="NAME",
                   help="Go only: package name (default: the output directory's name made an identifier)")
    p.add_argument("--go-import-path", metavar="PATH",
                   help="Go only: import path, written as the package's import comment")
    p.add_argument("--codec", choices=["zlib", "xz", "zstd", "none"], default=None,
                   help="compression of the embedded pack (format 3, solid blocks): zlib (default; C links "
                        "-lz; Rust: none), xz (smallest; C links -llzma), zstd (C links -lzstd), none")
    p.add_argument("--block-size", type=int, metavar="BYTES",
                   help="raw bytes per compressed block (default 262144): the most a runtime decompresses")
    p.add_argument("--compress", action="store_true", help="older spelling of --codec zlib")
    p.add_argument("--app", metavar="APP[=VERSION]", action="append", default=[],
                   help="C and Python: record this application's id (GNU build id, or VERSION) as one the "
                        "pack was built for (--userspace); P_matches_app() / matches_app() compare it")
    p.add_argument("--depfile", metavar="D",
                   help="also write a Makefile-syntax depfile: the primary output depends on PACK")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from btfembed.embed.codegen import check_prefix
    from btfembed.embed.generate import default_lang, generate

    lang = args.lang or default_lang(args.output)
    if args.prefix is not None:
        if lang != "c":
            raise ConfigError("--prefix applies to --lang c only")
        check_prefix(args.prefix)
    if (args.go_package is not None or args.go_import_path is not None) and lang != "go":
        raise ConfigError("--go-package and --go-import-path apply to --lang go only")
    app_ids: list[str] = []
    if args.app:
        from btfembed.inputs.userspace import app_id

        if lang not in ("c", "python"):
            raise ConfigError("--app applies to --lang c and python only")
        app_ids = [app_id(a) for a in args.app]
    codec = args.codec or ("zlib" if args.compress else None)
    generate(args.pack, args.output, lang=lang, prefix=args.prefix, codec=codec, block_size=args.block_size,
             depfile=args.depfile, go_package=args.go_package, go_import_path=args.go_import_path,
             app_ids=app_ids)
    return 0
