"""``btfembed minimize``: the ``bpftool gen min_core_btf`` step."""

from __future__ import annotations

import argparse

from btfembed.cli._common import add_target_args
import sys

from btfembed.btf import wire

HELP = """\
Write a BTF holding only the kernel types and members that the CO-RE
relocations of OBJECT(s) need: the same job, arguments and (with
--compat bpftool) the same bytes as 'bpftool gen min_core_btf'.

KERNEL may be raw BTF, an ELF file with a .BTF section (vmlinux), a
compressed file (.xz, .gz, .bz2), a BTFHub .btf.tar.xz archive, or
/sys/kernel/btf/vmlinux.  Several objects give the union of their needs.

By default the result is checked before it is written: every relocation of
every object must resolve to the same result (value, poisoning, ambiguity)
against it as against the full KERNEL.  Where bpftool's marking is not
enough (duplicate same-named kernel types, ambiguous relocations) more is
kept; where bpftool fails (FWD or TYPE_TAG reached by type relocations,
big-endian objects, objects without .BTF.ext) the output is still produced.

Older loaders (--loader): libbpf refuses a whole BTF holding a kind it does
not know ("Unsupported BTF_KIND:19" before 1.0), so the output can be
written in the kinds an older release parses:
  libbpf       libbpf >= 1.0, everything (default)
  libbpf-0.6   libbpf 0.6-0.8: ENUM64 -> ENUM (32-bit values), enum signedness
               flag cleared
  libbpf-0.4   libbpf 0.4-0.5: also TYPE_TAG -> CONST, DECL_TAG -> INT
  libbpf-0.3   libbpf 0.0.3-0.3 (alias libbpf-0.x): also FLOAT -> empty STRUCT
Every relocation is then resolved again against the rewritten BTF; those
whose result changes (an ENUM64 value that does not fit 32 bits, the
signedness of a signed enum member) are listed as warnings.

examples:
  btfembed minimize /sys/kernel/btf/vmlinux min.btf prog.bpf.o
  btfembed minimize ubuntu/20.04/x86_64/5.4.0-91-generic.btf.tar.xz out.btf a.bpf.o b.bpf.o
  btfembed minimize --compat bpftool vmlinux.btf min.btf prog.bpf.o   # bpftool's bytes
  btfembed minimize --module /sys/kernel/btf/nf_conntrack vmlinux min.btf ct.bpf.o
  btfembed minimize --loader libbpf-0.x vmlinux.btf min.btf prog.bpf.o   # for libbpf 0.x
"""


def _loader_names() -> list[str]:
    from btfembed.minimize.loader import loader_names
    return loader_names()


def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = sub.add_parser("minimize", help="minimize kernel BTF for BPF objects (bpftool gen min_core_btf)",
                       description=HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("kernel", metavar="KERNEL", help="full kernel BTF")
    p.add_argument("output", metavar="OUTPUT", help="minimized BTF to write")
    p.add_argument("objects", metavar="OBJECT", nargs="+", help="compiled BPF object(s)")
    add_target_args(p)
    p.add_argument("--compat", choices=["bpftool"],
                   help="reproduce bpftool 7.1 exactly: first candidate only, no checking, "
                        "and refuse what it refuses")
    p.add_argument("--header-size", type=int, choices=[wire.HEADER_LEN, wire.HEADER_LEN_LAYOUT],
                   default=wire.HEADER_LEN,
                   help="BTF header length: 24 (default, what libbpf <= 1.7 writes) or 32 (2026 UAPI)")
    p.add_argument("--byte-order", choices=["kernel", "little", "big", "native"], default="kernel",
                   help="byte order of the output (default: the kernel BTF's)")
    p.add_argument("--loader", choices=_loader_names(), default="libbpf",
                   help="write only BTF kinds this loader parses (see below); relocations the "
                        "rewriting changes are reported on stderr")
    p.add_argument("--report", action="store_true",
                   help="also print one line per relocation (as 'btfembed explain') to stdout")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from btfembed.cli._common import check_collisions, load_objects, load_target
    from btfembed.cli.explain import print_report
    from btfembed.inputs.files import atomic_write
    from btfembed.minimize.api import minimize
    objects = load_objects(args.objects)
    target = load_target(args.kernel, args.module, objects, args.userspace)
    check_collisions(objects, target, args.userspace_collisions)
    order = {"kernel": None, "native": sys.byteorder}.get(args.byte_order, args.byte_order)
    if args.compat and order is None:
        order = sys.byteorder
    result = minimize(objects, target, compat=bool(args.compat), byte_order=order, header_size=args.header_size)
    data = result.data
    if args.loader != "libbpf":
        from btfembed.cli._common import warn
        from btfembed.minimize.loader import for_loader, get_loader, loader_notes
        loader = get_loader(args.loader)
        out = for_loader(objects, result.summaries, data, result.emitted.old_ids, loader, hdr_len=args.header_size)
        data = out.data
        for note in loader_notes(out, loader, [o.source or "?" for o in objects]):
            warn(note)
    atomic_write(args.output, data)
    if args.report:
        print_report(objects, result.summaries, sys.stdout)
    return 0
