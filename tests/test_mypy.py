"""mypy --strict over the package (configuration: [tool.mypy] in
pyproject.toml): no error anywhere, the standalone Python runtime
(btfembed/embed/runtime.py) included.  To see what fails::

    python3 -m mypy
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
LINE = re.compile(r"^btfembed/[^:]+\.py:\d+: error: ")


def mypy_errors() -> list[str]:
    proc = subprocess.run([sys.executable, "-m", "mypy", "--no-error-summary", "--no-color-output",
                           "--cache-dir", str(REPO / ".mypy_cache")],
                          cwd=REPO, capture_output=True, text=True)
    if proc.returncode not in (0, 1) or "error: " in proc.stderr:
        raise AssertionError(f"mypy did not run: {proc.stderr or proc.stdout}")
    errors = [line for line in proc.stdout.splitlines() if LINE.match(line)]
    if proc.returncode == 1 and not errors:
        raise AssertionError(f"mypy failed without a package error line: {proc.stdout}")
    return errors


def test_mypy_strict_clean() -> None:
    try:
        import mypy  # noqa: F401
    except ImportError:
        if os.environ.get("CI"):
            raise
        pytest.skip("mypy is not installed (pip install -e '.[test]')")
    errors = mypy_errors()
    assert not errors, f"mypy --strict: {len(errors)} error(s):\n" + "\n".join(errors)


if __name__ == "__main__":
    found = mypy_errors()
    print("\n".join(found) or "mypy --strict: no errors")
    sys.exit(1 if found else 0)
