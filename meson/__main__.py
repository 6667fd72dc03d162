"""``python -m btfembed.meson [DEST]``: print the Meson subproject's
directory, or copy the subproject to DEST (e.g. subprojects/btfembed)."""

from __future__ import annotations

import argparse
import sys

from btfembed.meson import directory, vendor


def main(argv: "list[str] | None" = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m btfembed.meson", description=__doc__)
    ap.add_argument("dest", nargs="?", help="copy the subproject here (e.g. subprojects/btfembed)")
    args = ap.parse_args(argv)
    if args.dest is None:
        print(directory())
        return 0
    for path in vendor(args.dest):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
