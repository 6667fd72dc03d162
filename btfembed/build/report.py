"""Build reports: a terminal table, a JSON document and an HTML page.

Relocation outcomes, from best to worst: ``resolved``; ``missing`` (an
existence check answered 0: normal for guarded code); ``poisoned`` (the
instruction is replaced by an invalid call: fine in dead code, a verifier
error otherwise); ``ambiguous`` and ``error`` (libbpf refuses to load the
object on that kernel).
"""

from __future__ import annotations

import json
from collections import Counter
from typing import TextIO

from btfembed import __version__
from btfembed.core.kinds import KIND_LABELS
from btfembed.embed.keys import KernelKey
from btfembed.build.pipeline import BuildResult, KernelResult

__all__ = ["to_json", "write_table", "to_html", "SEVERITY", "worst_status", "fails"]

SEVERITY = {"resolved": 0, "missing": 1, "poisoned": 2, "ambiguous": 3, "error": 3}
STATUSES = ("resolved", "missing", "poisoned", "ambiguous", "error")




def counts(k: KernelResult) -> Counter[str]:
    c: Counter[str] = Counter({s: 0 for s in STATUSES})
    for sums in k.summaries:
        c.update(s.status for s in sums)
    return c


def worst_status(k: KernelResult) -> str:
    if k.error:
        return "failed"
    c = counts(k)
    for status in ("error", "ambiguous", "poisoned", "missing"):
        if c[status]:
            return status
    return "resolved"


def fails(build: BuildResult, level: str) -> list[KernelResult]:
    """Kernels that trip ``--fail-on level``."""
    if level == "never":
        return []
    limit = SEVERITY[level]
    return [k for k in build.ok if any(SEVERITY[s.status] >= limit for sums in k.summaries for s in sums)]


def to_json(build: BuildResult, blob_paths: dict[KernelKey, str] | None = None) -> dict[str, object]:
    import hashlib
    relocations = []
    first_ok = build.ok[0] if build.ok else None
    for oi, o in enumerate(build.objects):
        sums = first_ok.summaries[oi] if first_ok else ()
        for s in sums:
            relocations.append({"object": oi, "program": s.program, "section": s.section, "relo": s.index,
                                "insn": s.insn, "kind": KIND_LABELS.get(s.kind, str(s.kind)), "access": s.access})
    kernels = []
    for k in build.kernels:
        entry: dict[str, object] = {"arch": k.kernel.key.arch, "distro": k.kernel.key.distro,
                 "distro_version": k.kernel.key.distro_version, "release": k.kernel.key.release,
                 "source": k.kernel.path, "status": "failed" if k.error else "ok", "error": k.error,
                 "cached": k.cached}
        if k.error is None:
            entry["level"] = k.level
            entry["blob"] = {"sha256": hashlib.sha256(k.blob or b"").hexdigest(), "size": len(k.blob or b""),
                             "path": (blob_paths or {}).get(k.kernel.key)}
            entry["counts"] = dict(counts(k))
            results = []
            for sums in k.summaries:
                for s in sums:
                    if s.status == "resolved":
                        results.append([s.status, s.new_val])
                    elif s.status in ("ambiguous", "error"):
                        results.append([s.status, s.message])
                    else:
                        results.append([s.status, None])
            entry["results"] = results
        kernels.append(entry)
    return {
        "btfembed": __version__,
        "objects": [{"path": o.path, "sha256": o.digest, "relocations": len(o.obj.relocations)}
                    for o in build.objects],
        "relocations": relocations,
        "kernels": kernels,
        "stats": build.stats(),
    }


def write_table(build: BuildResult, out: TextIO, *, limit: int = 20, see: str = "report") -> None:
    """Worst kernels first, then a summary line that names the kernels with
    missing, poisoned or ambiguous relocations (``see``: where the details are)."""
    from btfembed.build.findings import problem_summary

    rows: list[tuple[tuple[int, int, int, int], str, Counter[str] | None, KernelResult]] = []
    for k in build.kernels:
        if k.error:
            rows.append(((9, 0, 0, 0), str(k.kernel.key), None, k))
            continue
        tally = counts(k)
        rank = (tally["ambiguous"] + tally["error"], tally["poisoned"], tally["missing"], 0)
        rows.append((rank, str(k.kernel.key), tally, k))
    rows.sort(key=lambda r: (tuple(-x for x in r[0]), r[1]))
    width = max([len(r[1]) for r in rows] + [6])
    out.write(f"{'kernel':<{width}}  {'ok':>5} {'missing':>7} {'poisoned':>8} {'ambiguous':>9} {'bytes':>7}\n")
    for rank, name, c, k in rows[:limit]:
        if c is None:
            out.write(f"{name:<{width}}  FAILED: {k.error}\n")
            continue
        out.write(f"{name:<{width}}  {c['resolved']:>5} {c['missing']:>7} {c['poisoned']:>8} "
                  f"{c['ambiguous'] + c['error']:>9} {len(k.blob or b''):>7}\n")
    if len(rows) > limit:
        out.write(f"... {len(rows) - limit} more kernel(s), best last; see --report for all\n")
    st = build.stats()
    problems = problem_summary(build, see)
    out.write(f"{st['kernels']} kernel(s), {st['failed']} failed{'; ' + problems + ';' if problems else ','} "
              f"{st['unique_blobs']} unique BTF blob(s), "
              f"{st['blob_bytes']} bytes; {st['cached']} from cache, {st['kernels_loaded']} kernel(s) parsed, "
              f"{st['analyses_computed']} object analyses computed\n")


def to_html(build: BuildResult) -> str:
    """The HTML report (see ``btfembed.build.html``)."""
    from btfembed.build.html import to_html as page

    return page(build)


def dump_json(data: dict[str, object]) -> str:
    return json.dumps(data, indent=1, sort_keys=True) + "\n"
