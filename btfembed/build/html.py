"""The HTML build report: one static page, no external assets.

Layout, top to bottom:

1. a **summary**: one row per object with the number of kernels on which
   all its relocations resolve, on which something is missing, poisoned or
   ambiguous, and on which the kernel failed; the column headers sort;
2. a **legend** saying what each outcome means for loading the program;
3. one **group per object** (``<details>``, folded), listing its kernels
   in classes of identical results (24 kernels usually make a handful of
   rows), each row with the kernels, their outcome and the object's
   programs folded inside (``<details>`` per program) with every
   relocation's kind, access and result on those kernels.

Filtering by outcome and sorting (by name, or worst first) is a few lines
of inline JavaScript; ``#status=poisoned,ambiguous&sort=worst`` in the URL
sets them on load.  Without JavaScript the page shows everything in build
order.  Nothing is wider than the window (long names wrap), so a build of
60 objects over 24 kernels reads without scrolling sideways.
"""

from __future__ import annotations

import html
import os
from collections import Counter
from typing import Callable, Sequence

from btfembed import __version__
from btfembed.build.findings import arch_mismatches
from btfembed.build.pipeline import BuildResult, KernelResult
from btfembed.core.kinds import EXISTENCE_KINDS, KIND_LABELS
from btfembed.core.results import Summary, describe

__all__ = ["to_html", "CLASSES", "classify"]

# Outcome of an object on a kernel, best first (the summary's columns).
CLASSES = ("resolved", "missing", "poisoned", "ambiguous", "failed")
CLASS_TITLES = {"resolved": "all resolve", "missing": "missing", "poisoned": "poisoned",
                "ambiguous": "ambiguous", "failed": "failed"}
_RANK = {c: i for i, c in enumerate(CLASSES)}
_STATUS_CLASS = {"resolved": "resolved", "missing": "missing", "poisoned": "poisoned",
                 "ambiguous": "ambiguous", "error": "ambiguous"}

LEGEND = (
    ("resolved", "the relocation was patched with this kernel's offset, size or type id."),
    ("missing", "an existence check (bpf_core_field_exists(), bpf_core_type_exists(), "
                "bpf_core_enum_value_exists() ...) answered 0 on this kernel: the program takes its "
                "other branch. Expected for code written for several kernel versions."),
    ("poisoned", "the field or type does not exist on this kernel, so libbpf replaced the instruction "
                 "with an invalid call, on purpose: code guarded by bpf_core_field_exists() (or a "
                 "flavor of the type for older kernels) is dead on this kernel and the verifier removes "
                 "it, so the program loads. It breaks the load (\"invalid func unknown#195896080\") only "
                 "when the access is not guarded. 'guarded' marks a poisoned access whose own "
                 "existence check in the same program answered 0."),
    ("ambiguous", "several kernel types match with different results (or the relocation is invalid): "
                  "libbpf refuses to load the object on this kernel."),
    ("failed", "the kernel's BTF could not be read or minimized; the error is shown."),
)

_CSS = """
*{box-sizing:border-box}
body{font:14px/1.4 system-ui,sans-serif;margin:0 auto;padding:0 16px 40px;max-width:1400px;color:#222}
h1{font-size:20px;margin:16px 0 4px}h2{font-size:16px;margin:20px 0 6px}
p.meta{margin:0 0 8px;color:#555}
table{border-collapse:collapse;width:100%;table-layout:fixed}
th,td{border:1px solid #ccc;padding:3px 6px;text-align:left;vertical-align:top;overflow-wrap:anywhere}
th{background:#f2f2f2}
#summary th.sortable{cursor:pointer}#summary th.sortable:hover{background:#e4e4e4}
#summary td.n,#summary th.n{text-align:right;width:7.5%}
#summary th{overflow-wrap:normal;font-size:12px}
#summary td.n.zero{color:#bbb}
.chip{display:inline-block;padding:0 6px;border-radius:8px;margin:1px 2px 1px 0;font-size:12px;white-space:nowrap}
.resolved{background:#c8e6c9}.missing{background:#fff59d}.poisoned{background:#ffcc80}
.ambiguous{background:#ef9a9a}.failed{background:#bdbdbd}
.guarded{background:#ffe0b2}
dl.legend{display:grid;grid-template-columns:max-content 1fr;gap:4px 10px;margin:0}
dl.legend dd{margin:0}
#controls{position:sticky;top:0;background:#fff;padding:6px 0;border-bottom:1px solid #ddd;z-index:1}
#controls label{margin-right:10px;white-space:nowrap}
details.object{border:1px solid #ccc;border-radius:4px;margin:6px 0;padding:2px 8px}
details.object>summary{cursor:pointer;padding:3px 0;overflow-wrap:anywhere}
details.object>summary .path{font-weight:600}
table.kernels col.status{width:10%}table.kernels col.kernels{width:22%}
details.program{margin:1px 0}details.program>summary{cursor:pointer}
table.relos{margin:3px 0 6px;font-size:12px}
table.relos col.kind{width:16%}table.relos col.result{width:34%}
.err{color:#b71c1c}
"""

_JS = """
(function(){
var order=%(order)s;
function rank(s){return order.indexOf(s);}
function params(){var o={};location.hash.replace(/^#/,'').split('&').forEach(function(kv){
  var p=kv.split('=');if(p[0])o[p[0]]=decodeURIComponent(p[1]||'');});return o;}
function checked(){var s={};document.querySelectorAll('#controls input[name=status]').forEach(function(c){
  if(c.checked)s[c.value]=1;});return s;}
function apply(){
  var show=checked(),nobj=0,nrow=0;
  document.querySelectorAll('details.object').forEach(function(d){
    var any=0;d.querySelectorAll('tr.class').forEach(function(tr){
      var on=!!show[tr.dataset.status];tr.hidden=!on;if(on){any=1;nrow++;}});
    d.hidden=!any;if(any)nobj++;});
  document.querySelectorAll('#summary tbody tr').forEach(function(tr){
    var on=tr.dataset.statuses.split(' ').some(function(s){return show[s];});tr.hidden=!on;});
  document.getElementById('shown').textContent=nobj+' of '+document.querySelectorAll('details.object').length+
    ' objects shown';
}
function sortBy(key,dir){
  var tb=document.querySelector('#summary tbody'),rows=[].slice.call(tb.rows);
  rows.sort(function(a,b){var x,y;
    if(key==='name'){x=a.dataset.name;y=b.dataset.name;return dir*(x<y?-1:x>y?1:0);}
    if(key==='worst'){x=rank(a.dataset.worst);y=rank(b.dataset.worst);
      if(x!==y)return y-x;x=+a.dataset.bad;y=+b.dataset.bad;if(x!==y)return y-x;
      return a.dataset.name<b.dataset.name?-1:1;}
    x=+a.dataset[key];y=+b.dataset[key];if(x!==y)return dir*(y-x);
    return a.dataset.name<b.dataset.name?-1:1;});
  rows.forEach(function(r){tb.appendChild(r);});
  var box=document.getElementById('objects');
  rows.forEach(function(r){box.appendChild(document.getElementById(r.dataset.target));});
  document.body.dataset.sort=key;
}
document.querySelectorAll('#summary th.sortable').forEach(function(th){
  th.addEventListener('click',function(){var k=th.dataset.key,d=th.dataset.dir==='1'?-1:1;th.dataset.dir=String(d);
    sortBy(k,d);var sel=document.getElementById('sort');sel.value=k==='worst'||k==='name'?k:'';});});
document.getElementById('sort').addEventListener('change',function(e){if(e.target.value)sortBy(e.target.value,1);});
document.querySelectorAll('#controls input[name=status]').forEach(function(c){c.addEventListener('change',apply);});
document.querySelectorAll('#summary a').forEach(function(a){a.addEventListener('click',function(){
  var d=document.getElementById(a.getAttribute('href').slice(1));if(d)d.open=true;});});
var p=params();
if(p.status){var want={};p.status.split(',').forEach(function(s){want[s]=1;});
  document.querySelectorAll('#controls input[name=status]').forEach(function(c){c.checked=!!want[c.value];});}
var s=p.sort||'worst';document.getElementById('sort').value=s;sortBy(s,1);
apply();
if(p.open==='all')document.querySelectorAll('details').forEach(function(d){d.open=true;});
document.body.dataset.ready='1';
document.body.dataset.hscroll=String(document.documentElement.scrollWidth>document.documentElement.clientWidth?1:0);
})();
"""


def classify(sums: Sequence[Summary]) -> str:
    """The outcome of one object on one kernel: its worst relocation."""
    worst = "resolved"
    for s in sums:
        c = _STATUS_CLASS.get(s.status, "ambiguous")
        if _RANK[c] > _RANK[worst]:
            worst = c
    return worst


def _guarded(sums: Sequence[Summary]) -> set[int]:
    """Indices of poisoned relocations whose own existence check (same
    program, same access) answered 0 on this kernel."""
    checks = {(s.program, s.access) for s in sums if s.kind in EXISTENCE_KINDS and s.status == "missing"}
    return {i for i, s in enumerate(sums) if s.status == "poisoned" and (s.program, s.access) in checks}


def _chips(counter: Counter[str], order: Sequence[str], labels: dict[str, str]) -> str:
    return "".join(f"<span class='chip {c}'>{counter[c]} {labels.get(c, c)}</span>" for c in order if counter[c])


def _anchor(i: int) -> str:
    return f"obj-{i}"


def to_html(build: BuildResult) -> str:
    esc = html.escape
    ok_first = build.ok[0] if build.ok else None
    n_programs = 0
    summary_rows: list[str] = []
    groups: list[str] = []
    totals: Counter[str] = Counter()

    # Objects are shown relative to the directory they share (full path on hover).
    dirs = [os.path.dirname(o.path) for o in build.objects]
    common = os.path.commonpath(dirs) if dirs and all(os.path.isabs(d) == os.path.isabs(dirs[0]) for d in dirs) else ""
    shown = {o.path: os.path.relpath(o.path, common) if common else o.path for o in build.objects}

    for oi, o in enumerate(build.objects):
        ref = ok_first.summaries[oi] if ok_first else ()
        programs = list(dict.fromkeys(s.program for s in ref))
        n_programs += len(programs)
        # Kernels in classes of identical results for this object.
        classes: dict[tuple[object, ...], list[KernelResult]] = {}
        class_of: dict[tuple[object, ...], str] = {}
        per_kernel: Counter[str] = Counter()
        for k in build.kernels:
            if k.error is not None:
                key: tuple[object, ...] = ("failed", k.error)
                cls = "failed"
            else:
                sums = k.summaries[oi]
                key = ("ok",) + tuple((s.status, describe(s)) for s in sums)
                cls = classify(sums)
            per_kernel[cls] += 1
            classes.setdefault(key, []).append(k)
            class_of[key] = cls
        totals.update(per_kernel)
        worst = max((c for c in CLASSES if per_kernel[c]), key=_RANK.__getitem__, default="resolved")
        bad = sum(per_kernel[c] for c in CLASSES if c != "resolved")
        statuses = " ".join(c for c in CLASSES if per_kernel[c])
        cells = "".join(f"<td class='n{' zero' if not per_kernel[c] else ''}' data-class='{c}'>{per_kernel[c]}</td>"
                        for c in CLASSES)
        data = " ".join(f"data-{c}='{per_kernel[c]}'" for c in CLASSES)
        summary_rows.append(
            f"<tr data-name='{esc(o.path)}' data-worst='{worst}' data-bad='{bad}' data-statuses='{statuses}' "
            f"data-target='{_anchor(oi)}' {data}><td><a href='#{_anchor(oi)}' title='{esc(o.path)}'>"
            f"{esc(shown[o.path])}</a></td>"
            f"<td class='n'>{len(programs)}</td><td class='n'>{len(o.obj.relocations)}</td>{cells}</tr>")

        rows = []
        ordered = sorted(classes.items(), key=lambda kv: (-_RANK[class_of[kv[0]]], str(kv[1][0].kernel.key)))
        for key, kernels in ordered:
            cls = class_of[key]
            names = ", ".join(esc(str(k.kernel.key)) for k in kernels)
            if cls == "failed":
                detail = f"<span class='err'>{esc(str(kernels[0].error))}</span>"
                counts_html = ""
            else:
                sums = kernels[0].summaries[oi]
                guarded = _guarded(sums)
                c = Counter(_STATUS_CLASS.get(s.status, "ambiguous") for s in sums)
                counts_html = _chips(c, CLASSES[:4], {})
                if guarded:
                    counts_html += f"<span class='chip guarded'>{len(guarded)} guarded</span>"
                detail = "".join(_program(esc, p, [(i, s) for i, s in enumerate(sums) if s.program == p], guarded)
                                 for p in programs)
            rows.append(f"<tr class='class' data-status='{cls}' data-kernels='{len(kernels)}'>"
                        f"<td><span class='chip {cls}'>{CLASS_TITLES[cls]}</span><br>{len(kernels)} kernel"
                        f"{'s' if len(kernels) != 1 else ''}</td><td>{names}</td>"
                        f"<td>{counts_html}{detail}</td></tr>")
        head = _chips(per_kernel, CLASSES, CLASS_TITLES)
        groups.append(
            f"<details class='object' id='{_anchor(oi)}' data-worst='{worst}' data-name='{esc(o.path)}'><summary>"
            f"<span class='path' title='{esc(o.path)}'>{esc(shown[o.path])}</span> &middot; {len(programs)} program(s), {len(o.obj.relocations)} relocation(s) "
            f"&middot; kernels: {head}</summary>"
            "<table class='kernels'><colgroup><col class='status'><col class='kernels'><col></colgroup>"
            "<thead><tr><th>outcome</th><th>kernels</th><th>programs and relocations</th></tr></thead><tbody>"
            + "".join(rows) + "</tbody></table></details>")

    n_kernels = len(build.kernels)
    failed = len(build.failed)
    head_cells = "".join(f"<th class='n sortable {c}' data-key='{c}'>{CLASS_TITLES[c]}</th>" for c in CLASSES)
    controls = "".join(f"<label><input type='checkbox' name='status' value='{c}' checked> "
                       f"<span class='chip {c}'>{CLASS_TITLES[c]}</span></label>" for c in CLASSES)
    legend = "".join(f"<dt><span class='chip {c}'>{c}</span></dt><dd>{esc(text)}</dd>" for c, text in LEGEND)
    order = "[" + ",".join(f"'{c}'" for c in CLASSES) + "]"
    mismatches = arch_mismatches(build)
    warnings = ("<h2>Warnings</h2><ul id='warnings'>" + "".join(f"<li>{esc(m.message())}</li>" for m in mismatches)
                + "</ul>") if mismatches else ""
    parts = [
        "<!DOCTYPE html>",
        "<html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        "<title>btfembed build report</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>btfembed build report</h1><p class='meta'>btfembed {esc(__version__)} &middot; "
        f"<span id='n-objects'>{len(build.objects)}</span> object(s), {n_programs} program(s) &middot; "
        f"<span id='n-kernels'>{n_kernels}</span> kernel(s), {failed} failed</p>",
        "<h2>Summary</h2><p class='meta'>Kernels per object, by the object's worst relocation on each "
        "(click a column to sort, an object to open its group)"
        + (f"; objects in <span id='common'>{esc(common)}</span>" if common else "") + ".</p>",
        "<table id='summary'><thead><tr><th class='sortable' data-key='name'>object</th>"
        f"<th class='n'>programs</th><th class='n'>relocations</th>{head_cells}</tr></thead><tbody>"
        + "".join(summary_rows) + "</tbody><tfoot><tr><th>all objects</th><th></th><th></th>"
        + "".join(f"<th class='n' data-class='{c}'>{totals[c]}</th>" for c in CLASSES) + "</tr></tfoot></table>",
        warnings,
        f"<h2>Legend</h2><dl class='legend'>{legend}</dl>",
        "<h2>Objects</h2>",
        f"<div id='controls'>show kernels that are: {controls} &middot; sort: <select id='sort'>"
        "<option value='worst'>worst first</option><option value='name'>by name</option>"
        "<option value=''>(column)</option></select> &middot; <span id='shown'></span></div>",
        "<div id='objects'>" + "".join(groups) + "</div>",
        f"<script>{_JS % {'order': order}}</script>",
        "</body></html>", "",
    ]
    return "\n".join(parts)


def _program(esc: Callable[[str], str], name: str, relos: list[tuple[int, Summary]], guarded: set[int]) -> str:
    c = Counter(_STATUS_CLASS.get(s.status, "ambiguous") for _, s in relos)
    worst = max((x for x in c), key=_RANK.__getitem__, default="resolved")
    body = []
    for i, s in relos:
        note = " (guarded)" if i in guarded else ""
        cls = _STATUS_CLASS.get(s.status, "ambiguous")
        body.append(f"<tr class='{cls}'><td>{esc(KIND_LABELS.get(s.kind, str(s.kind)))}</td>"
                    f"<td>{esc(s.access)}</td><td>{esc(describe(s))}{note}</td></tr>")
    counts = ", ".join(f"{c[x]} {x}" for x in CLASSES if c[x])
    return (f"<details class='program' data-worst='{worst}'><summary><span class='chip {worst}'>"
            f"{esc(name)}</span> {counts or 'no relocations'}</summary>"
            "<table class='relos'><colgroup><col class='kind'><col><col class='result'></colgroup>"
            "<thead><tr><th>kind</th><th>access</th><th>result</th></tr></thead><tbody>"
            + "".join(body) + "</tbody></table></details>")
