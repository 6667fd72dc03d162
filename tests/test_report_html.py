"""The HTML build report, rendered by a real browser (headless Chromium).

A bcc-sized build (58 objects x 24 kernels: the corpus objects and the
examples' objects copied under distinct names, the bundled kernels each
under 8 keys) is run through ``btfembed build --html --report``; Chromium
renders the page (its DOM after the inline script ran, ``--dump-dom``) and
the test checks, against the JSON report (not against the HTML code):

* the summary's counts per object (kernels where everything resolves, or
  whose worst relocation is missing / poisoned / ambiguous, or that failed);
* folding: object groups and programs are ``<details>``, closed, with every
  program of the object inside each class of kernels;
* sorting (worst first by default) and filtering (``#status=...``);
* nothing wider than a 1280-pixel window (no horizontal scrolling);
* a screenshot, kept as ``tests/artifacts/report-html.png``.

Skipped without Chromium (Debian: ``apt install chromium``).
"""

from __future__ import annotations

import html.parser
import json
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from conftest import OBJS, REPO_KERNELS

REPO = Path(__file__).resolve().parent.parent
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
CLASSES = ("resolved", "missing", "poisoned", "ambiguous", "failed")
RANK = {c: i for i, c in enumerate(CLASSES)}
N_OBJECTS, N_KERNELS = 58, 24
KERNEL_FILES = {
    "debian_12_x86_64_6.1.0-50-amd64.btf.xz": "x86_64",
    "cilium-testdata_2019-11_x86_64_5.3-approx.btf.xz": "x86_64",
    "kylin_V10_arm64_4.19.90-24.4.v2101.ky10.aarch64.btf.xz": "arm64",
}


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("headless Chromium not installed (apt install chromium)")


def browse(url: str, tmp: Path, *args: str) -> str:
    profile = tmp / f"profile-{len(list(tmp.glob('profile-*')))}"
    cmd = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={profile}", "--window-size=1280,1600", *args, url]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


@pytest.fixture(scope="module")
def bcc_sized(tmp_path_factory) -> tuple[Path, dict]:
    """58 objects x 24 kernels through the CLI; returns (page, JSON report)."""
    root = tmp_path_factory.mktemp("bcc-sized")
    sources = sorted(p for p in OBJS.glob("*.el.o") if "nobtfext" not in p.name and "no_core" not in p.name)
    sources += sorted((REPO / "examples").glob("**/*.bpf.o"))
    objs = root / "objs"
    objs.mkdir()
    names = []
    for i in range(N_OBJECTS):
        src = sources[i % len(sources)]
        dest = objs / f"{i:02d}_{src.stem}.bpf.o"
        shutil.copy(src, dest)
        names.append(str(dest))
    rows = ["path\trelease\tarch\tdistro\tdistro_version"]
    for i in range(N_KERNELS):
        fname, arch = list(KERNEL_FILES.items())[i % len(KERNEL_FILES)]
        rows.append(f"{REPO_KERNELS / fname}\t5.{i}.0-{i}\t{arch}\tdistro{i % 4}\t{i // 4}")
    manifest = root / "kernels.tsv"
    manifest.write_text("\n".join(rows) + "\n")
    page, report = root / "report.html", root / "report.json"
    proc = subprocess.run([sys.executable, "-m", "btfembed", "build", *names, "--kernels", str(manifest),
                           "--out-dir", str(root / "out"), "--cache-dir", str(root / "cache"),
                           "--html", str(page), "--report", str(report), "-q"],
                          capture_output=True, text=True, cwd=root, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return page, json.loads(report.read_text())


def expected(report: dict) -> list[dict[str, int]]:
    """Kernels per class for every object, from the JSON report."""
    objects = report["objects"]
    owner = [r["object"] for r in report["relocations"]]
    out = [Counter({c: 0 for c in CLASSES}) for _ in objects]
    for k in report["kernels"]:
        if k["status"] == "failed":
            for c in out:
                c["failed"] += 1
            continue
        worst = [0] * len(objects)
        for oi, (status, _) in zip(owner, k["results"]):
            cls = {"error": "ambiguous"}.get(status, status)
            worst[oi] = max(worst[oi], RANK[cls])
        for oi, w in enumerate(worst):
            out[oi][CLASSES[w]] += 1
    return [dict(c) for c in out]


class Node:
    def __init__(self, tag: str, attrs: dict, parent: "Node | None"):
        self.tag, self.attrs, self.parent, self.children, self.text = tag, attrs, parent, [], []

    def iter(self):
        yield self
        for c in self.children:
            yield from c.iter()

    def find_all(self, tag: str, cls: str | None = None) -> list["Node"]:
        return [n for n in self.iter() if n.tag == tag and (cls is None or cls in n.attrs.get("class", "").split())]

    def content(self) -> str:
        return "".join(self.text) + "".join(c.content() for c in self.children)

    def hidden(self) -> bool:
        n: Node | None = self
        while n is not None:
            if "hidden" in n.attrs:
                return True
            n = n.parent
        return False


class Tree(html.parser.HTMLParser):
    VOID = {"meta", "link", "br", "input", "col", "img", "hr"}

    def __init__(self, text: str):
        super().__init__()
        self.root = self.cur = Node("#root", {}, None)
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        node = Node(tag, {k: v or "" for k, v in attrs}, self.cur)
        self.cur.children.append(node)
        if tag not in self.VOID:
            self.cur = node

    def handle_endtag(self, tag):
        n = self.cur
        while n is not None and n.tag != tag:
            n = n.parent
        if n is not None and n.parent is not None:
            self.cur = n.parent

    def handle_data(self, data):
        self.cur.text.append(data)


def test_report_renders_counts_and_folding(bcc_sized, tmp_path: Path) -> None:
    page, report = bcc_sized
    want = expected(report)
    assert len(want) == N_OBJECTS and len(report["kernels"]) == N_KERNELS
    assert any(w["poisoned"] for w in want) and any(w["resolved"] for w in want)  # a varied build
    dom = Tree(browse(page.as_uri(), tmp_path, "--dump-dom")).root
    body = dom.find_all("body")[0]
    assert body.attrs.get("data-ready") == "1", "the inline script did not run"
    assert body.attrs.get("data-hscroll") == "0", "the page is wider than a 1280-pixel window"

    rows = dom.find_all("table")[0].find_all("tbody")[0].find_all("tr")
    assert len(rows) == N_OBJECTS
    by_path = {o["path"]: i for i, o in enumerate(report["objects"])}
    seen = []
    for tr in rows:
        oi = by_path[tr.attrs["data-name"]]
        cells = {td.attrs["data-class"]: int(td.content()) for td in tr.find_all("td") if "data-class" in td.attrs}
        assert cells == want[oi], tr.attrs["data-name"]
        seen.append(oi)
    assert sorted(seen) == list(range(N_OBJECTS))
    # Worst first (the default sort), in the summary and in the groups below it.
    ranks = [max((RANK[c] for c, n in want[oi].items() if n), default=0) for oi in seen]
    assert ranks == sorted(ranks, reverse=True), ranks
    groups = dom.find_all("details", "object")
    assert [g.attrs["id"] for g in groups] == [tr.attrs["data-target"] for tr in rows]

    for g in groups:
        assert "open" not in g.attrs  # folded
        oi = by_path[g.attrs["data-name"]]
        classes = g.find_all("tr", "class")
        assert sum(int(tr.attrs["data-kernels"]) for tr in classes) == N_KERNELS
        per_class = Counter()
        for tr in classes:
            per_class[tr.attrs["data-status"]] += int(tr.attrs["data-kernels"])
        assert {c: per_class[c] for c in CLASSES} == want[oi]
        programs = {r["program"] for r in report["relocations"] if r["object"] == oi}
        progs = g.find_all("details", "program")
        assert all("open" not in p.attrs for p in progs)
        assert len(progs) == len(programs) * sum(tr.attrs["data-status"] != "failed" for tr in classes)
        relos = sum(len(p.find_all("tbody")[0].find_all("tr")) for p in progs)
        assert relos == report["objects"][oi]["relocations"] * sum(
            tr.attrs["data-status"] != "failed" for tr in classes)
    legend = " ".join(dd.content() for dd in dom.find_all("dd"))
    assert "bpf_core_field_exists()" in legend and "not guarded" in legend
    # The arm64 kernels met x86 objects: the page carries the build's warning.
    assert "do not resolve on" in dom.find_all("ul")[0].content()


def test_report_filters_by_status(bcc_sized, tmp_path: Path) -> None:
    page, report = bcc_sized
    want = expected(report)
    dom = Tree(browse(page.as_uri() + "#status=poisoned&sort=name", tmp_path, "--dump-dom")).root
    rows = dom.find_all("table")[0].find_all("tbody")[0].find_all("tr")
    names = [tr.attrs["data-name"] for tr in rows]
    assert names == sorted(names)
    by_path = {o["path"]: i for i, o in enumerate(report["objects"])}
    shown = [tr.attrs["data-name"] for tr in rows if not tr.hidden()]
    assert shown == [n for n in names if want[by_path[n]]["poisoned"]]
    for g in dom.find_all("details", "object"):
        classes = g.find_all("tr", "class")
        visible = [tr for tr in classes if not tr.hidden()]
        assert all(tr.attrs["data-status"] == "poisoned" for tr in visible)
        assert g.hidden() == (not visible)
    assert dom.find_all("span")[0] is not None
    status = next(n for n in dom.iter() if n.attrs.get("id") == "shown").content()
    assert status == f"{len(shown)} of {N_OBJECTS} objects shown"


def test_report_screenshot(bcc_sized, tmp_path: Path) -> None:
    """A picture of the page as it opens, for people to look at (the test
    checks it is a 1280-pixel-wide PNG)."""
    page, _ = bcc_sized
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "report-html.png"
    shot.unlink(missing_ok=True)
    browse(page.as_uri(), tmp_path, f"--screenshot={shot}")
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert int.from_bytes(data[16:20], "big") == 1280
