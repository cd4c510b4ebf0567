"""Every Python block of the README and the user guide runs on its own.

The user guide promises that each block runs by itself on a CPU; these
tests hold it to that. They take a few minutes, so they carry the ``docs``
marker and run only when asked: ``python -m pytest -m docs`` (CI does).
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = ("README.md", "docs/user_guide.md")


def _blocks():
    for page in PAGES:
        text = (ROOT / page).read_text()
        for match in re.finditer(r"^```python\n(.*?)^```", text, re.S | re.M):
            line = text.count("\n", 0, match.start()) + 1
            yield pytest.param(match.group(1), id=f"{page}:{line}")


@pytest.mark.docs
@pytest.mark.parametrize("code", list(_blocks()))
def test_block_runs_on_its_own(code, tmp_path):
    script = tmp_path / "block.py"
    script.write_text(code)
    env = {**os.environ, "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]


def test_the_pages_have_blocks():
    """The pattern above finds the blocks (a changed fence style would skip them all)."""
    assert len(list(_blocks())) >= 20
