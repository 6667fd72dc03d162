"""``btfembed doctor``: the runtime's decision on this host, checked."""

from __future__ import annotations

import argparse

HELP = """\
Show what the embedded-BTF runtime decides on this host for PACK (a pack
from 'btfembed build', or the .btfpack of a generated Python module): the
key computed (and from what), the decision as a program sees it here, and
the entry a kernel without BTF would get (exact, release+arch shared blob,
ambiguous, none) with its digest.  For each OBJECT, the stale-object guard
(is it one the pack was built for?), and, where this host has
/sys/kernel/btf/vmlinux, every CO-RE relocation resolved against the chosen
blob and against the host's own BTF: any difference is reported.

So a pack can be checked on a machine that has BTF before it ships to
machines that do not: force the key of the kernel to check with --key (or
BTFEMBED_KEY), and containers read the host's os-release with --host-root
(or BTFEMBED_HOST_ROOT).

Exit status: 0 all good; 1 a relocation differs, an object is stale, or the
pack has no BTF for this host; 2 usage; 3 a bad pack.

examples:
  btfembed doctor out/btfembed.pack prog.bpf.o
  btfembed doctor out/btfembed.pack prog.bpf.o --key ubuntu/20.04/x86_64/5.4.0-91-generic
  btfembed doctor /host-pack.pack --host-root /host
"""


def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = sub.add_parser("doctor", help="show and check the runtime's choice of embedded BTF on this host",
                       description=HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("pack", metavar="PACK", help="pack file")
    p.add_argument("objects", metavar="OBJECT", nargs="*", help="BPF objects to check")
    p.add_argument("--key", metavar="D/V/A/R", help="use this key (distro/version/arch/release), as BTFEMBED_KEY")
    p.add_argument("--host-root", metavar="DIR", help="read DIR/etc/os-release (as BTFEMBED_HOST_ROOT)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from btfembed.embed.doctor import diagnose
    from btfembed.errors import CheckFailed

    report = diagnose(args.pack, args.objects, key=args.key, host_root=args.host_root)
    print(report.text())
    if not report.ok:
        if report.differences:
            raise CheckFailed(f"{len(report.differences)} relocation(s) resolve differently with the embedded BTF")
        if report.embedded.blob is None:
            raise CheckFailed("the pack has no BTF for this host")
        raise CheckFailed("an object is not one the pack was built for")
    return 0
