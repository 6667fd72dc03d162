"""``python -m umask_example [--force] [--umask 027]``: load the example
program with the embedded BTF and print what it read (root)."""

import argparse
import sys

from umask_example import kernels, report


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m umask_example", description=__doc__.split("\n\n")[0])
    ap.add_argument("--force", action="store_true", help="use the embedded BTF even if the kernel has BTF")
    ap.add_argument("--umask", default="027", help="umask to set before triggering (octal, default 027)")
    ap.add_argument("--kernels", action="store_true", help="list the embedded kernels and exit")
    args = ap.parse_args(argv)
    if args.kernels:
        for key in kernels():
            print("/".join(key))
        return 0
    r = report(force=args.force, umask=int(args.umask, 8))
    print(f"btfembed: status={r['status']} key={r['key']} path={r['btf_custom_path'] or '(none)'}")
    print(f"report: pid={r['pid']} ppid={r['ppid']} comm={r['comm']} umask={r['umask']:03o} hits={r['hits']}")
    return 0 if r["hits"] else 3


if __name__ == "__main__":
    sys.exit(main())
