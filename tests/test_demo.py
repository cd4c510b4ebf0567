import numpy as np
import pytest

from sklearn_bdistil.__main__ import main
from sklearn_bdistil._demo import run_demo


def test_demo_runs_end_to_end_and_reports_every_stage():
    lines = []
    clf, teacher, rows = run_demo(n_estimators=2, teacher_epochs=1, verbose=0,
                                  out=lines.append, plot_path=None)
    assert len(rows) == clf.n_estimators_ >= 1
    fractions = [r["fraction"] for r in rows]
    assert np.all(np.diff(fractions) > 0) and 0 < fractions[-1] < 1
    for row in rows:
        assert 0 <= row["accuracy"] <= 1 and 0 <= row["agreement"] <= 1
    text = "\n".join(lines)
    assert "% teacher" in text and "agreement" in text and "early exit" in text


def test_cli_runs_the_demo_and_writes_the_plot(capsys, tmp_path):
    png = tmp_path / "curve.png"
    assert main(["demo", "--n-estimators", "1", "--teacher-epochs", "1", "--quiet",
                 "--plot", str(png)]) == 0
    out = capsys.readouterr().out
    assert "FLOPs/row" in out and "accuracy" in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("option, value", [("--n-estimators", "0"),
                                           ("--teacher-epochs", "-1"),
                                           ("--n-estimators", "two")])
def test_cli_refuses_bad_counts_before_any_work(option, value, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["demo", option, value])
    assert exc.value.code == 2
    assert option in capsys.readouterr().err
