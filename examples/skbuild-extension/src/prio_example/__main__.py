"""``python -m prio_example [--force] [--nice N]``: load the example program
with the embedded BTF and print what it read (root)."""

import argparse
import sys

from prio_example import kernels, lookup, report


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m prio_example", description=__doc__.split("\n\n")[0])
    ap.add_argument("--force", action="store_true", help="use the embedded BTF even if the kernel has BTF")
    ap.add_argument("--nice", type=int, default=7, help="nice value to set before triggering (default 7)")
    ap.add_argument("--kernels", action="store_true", help="list the embedded kernels and exit")
    args = ap.parse_args(argv)
    if args.kernels:
        for key in kernels():
            print("/".join(key))
        return 0
    status, message, key, entry, exact = lookup(force=args.force)
    print(f"btfembed: status={status} ({message}) key={'/'.join(key)} entry={entry} exact={int(exact)}")
    r = report(force=args.force, nice=args.nice)
    comm = r["comm"].decode("ascii", "backslashreplace")
    print(f"report: pid={r['pid']} tgid={r['tgid']} comm={comm} static_prio={r['static_prio']} hits={r['hits']}")
    return 0 if r["hits"] else 3


if __name__ == "__main__":
    sys.exit(main())
