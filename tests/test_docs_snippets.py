"""Every Python block of the README and the user guide runs on its own; the deploy page's C builds.

The user guide promises that each block runs by itself on a CPU; these
tests hold it to that. They take a few minutes, so they carry the ``docs``
marker and run only when asked: ``python -m pytest -m docs`` (CI does).
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = ("README.md", "docs/user_guide.md", "docs/deploy.md")


def _fenced(page, language):
    text = (ROOT / page).read_text()
    for match in re.finditer(rf"^```{language}\n(.*?)^```", text, re.S | re.M):
        yield text.count("\n", 0, match.start()) + 1, match.group(1)


def _blocks():
    for page in PAGES:
        for line, code in _fenced(page, "python"):
            yield pytest.param(code, id=f"{page}:{line}")


def _run_python(code, cwd):
    script = cwd / "block.py"
    script.write_text(code)
    env = {**os.environ, "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, str(script)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


@pytest.mark.docs
@pytest.mark.parametrize("code", list(_blocks()))
def test_block_runs_on_its_own(code, tmp_path):
    done = _run_python(code, tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.mark.docs
def test_deploy_page_main_c_builds_and_runs(tmp_path):
    """The deploy page's Python writes the C; its main.c and build line run on it."""
    if shutil.which("cc") is None:
        pytest.skip("no C compiler (apt-get install gcc)")
    page = "docs/deploy.md"
    python = next(code for _, code in _fenced(page, "python") if "to_c(" in code)
    main_c = next(code for _, code in _fenced(page, "c") if "int main" in code)
    build = next(code for _, code in _fenced(page, "bash") if "main.c" in code)
    done = _run_python(python, tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    (tmp_path / "main.c").write_text(main_c)
    built = subprocess.run(["bash", "-e", "-c", build], cwd=tmp_path, capture_output=True,
                           text=True, timeout=300)
    assert built.returncode == 0, built.stderr[-3000:]
    assert re.fullmatch(r"class 0 after [1-3] of 3 stages\n", built.stdout), built.stdout


def test_the_pages_have_blocks():
    """The pattern above finds the blocks (a changed fence style would skip them all)."""
    assert len(list(_blocks())) >= 20
