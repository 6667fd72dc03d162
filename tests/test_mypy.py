"""mypy --strict over the package (configuration: [tool.mypy] in
pyproject.toml), as a ratchet: no file may have more errors than
tests/data/mypy-baseline.json allows, and the goal is none anywhere.

After fixing errors, lower the numbers (or drop the file) with::

    python3 tests/test_mypy.py --update
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
BASELINE = REPO / "tests" / "data" / "mypy-baseline.json"
LINE = re.compile(r"^(btfembed/[^:]+\.py):\d+: error: ")


def mypy_errors() -> Counter[str]:
    proc = subprocess.run([sys.executable, "-m", "mypy", "--no-error-summary", "--no-color-output",
                           "--cache-dir", str(REPO / ".mypy_cache")],
                          cwd=REPO, capture_output=True, text=True)
    if proc.returncode not in (0, 1) or "error: " in proc.stderr:
        raise AssertionError(f"mypy did not run: {proc.stderr or proc.stdout}")
    return Counter(m.group(1) for line in proc.stdout.splitlines() if (m := LINE.match(line)))


def test_mypy_strict_does_not_regress() -> None:
    try:
        import mypy  # noqa: F401
    except ImportError:
        if os.environ.get("CI"):
            raise
        pytest.skip("mypy is not installed (pip install -e '.[test]')")
    allowed: dict[str, int] = json.loads(BASELINE.read_text())
    got = mypy_errors()
    worse = {f: (n, allowed.get(f, 0)) for f, n in got.items() if n > allowed.get(f, 0)}
    assert not worse, ("mypy --strict errors above the baseline (file: now, allowed): "
                       + ", ".join(f"{f}: {n} > {a}" for f, (n, a) in sorted(worse.items()))
                       + "; run 'python3 -m mypy' to see them")


if __name__ == "__main__":
    if "--update" in sys.argv:
        errors = mypy_errors()
        BASELINE.write_text(json.dumps(dict(sorted(errors.items())), indent=1) + "\n")
        print(f"{BASELINE}: {sum(errors.values())} errors in {len(errors)} files")
