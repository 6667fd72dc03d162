"""The command line's outputs on the corpus are what they were before the
library was reorganized (tests/golden.py; tests/data/golden/outputs.json)."""

from __future__ import annotations

from pathlib import Path

import golden


def test_cli_outputs_match_the_golden_digests(tmp_path: Path) -> None:
    golden.prepare(tmp_path)
    got = golden.run(tmp_path)
    want = golden.load()
    assert sorted(got) == sorted(want), "the case list changed: regenerate (see tests/golden.py)"
    changed = []
    for name, expect in want.items():
        actual = got[name]
        for part in ("rc", "stdout", "stderr"):
            if actual[part] != expect[part]:
                changed.append(f"{name}: {part}")
        files = expect["files"]
        assert isinstance(files, dict)
        if actual["files"] != files:
            assert isinstance(actual["files"], dict)
            names = sorted(set(files) | set(actual["files"]))
            changed += [f"{name}: {f}" for f in names if files.get(f) != actual["files"].get(f)]
    assert not changed, (f"{len(changed)} output(s) differ from tests/data/golden/outputs.json "
                         "(if intended, regenerate it: see tests/golden.py): " + "; ".join(changed[:20]))
