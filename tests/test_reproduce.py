"""`tradenb reproduce`'s loop (chapter 95) on two tiny notebooks: quiet kernels, progress, the summary table."""
import json

import nbformat
import pytest

from tradenb.cli import reproduce_summary, run_notebooks


def _nb(path, *sources):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell('profile = "smoke"\noutput_dir = None')]
                                  + [nbformat.v4.new_code_cell(s) for s in sources])
    nb.cells[0].metadata["tags"] = ["parameters"]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "python3", "language": "python"}
    nbformat.write(nb, path)


def _project(tmp_path, second="print('fine')"):
    (tmp_path/"proj"/"nbs").mkdir(parents=True)
    _nb(tmp_path/"proj"/"nbs"/"00_a.ipynb",
        "from pathlib import Path\nfrom tradenb.core import Config\nfrom tradenb.tracking import key_numbers\n"
        "key_numbers(Config(output_dir=Path(output_dir)), '00_a', answer=42, score=0.3125)")
    _nb(tmp_path/"proj"/"nbs"/"01_b.ipynb", second)
    _nb(tmp_path/"proj"/"nbs"/"02_c.ipynb", "print('after')")
    return tmp_path/"proj"


def test_reproduce_summary_and_quiet_kernels(tmp_path, capfd):
    root, out = _project(tmp_path), tmp_path/"out"
    t = run_notebooks("smoke", ["0*"], out, out/"executed", root=root)
    assert list(t.notebook) == ["00_a.ipynb", "01_b.ipynb", "02_c.ipynb"]
    err = capfd.readouterr()
    log = err.out + err.err
    assert "without encryption" not in log, log            # kernels over IPC: no per-notebook TCP warning
    assert "reproduce:smoke" in err.err and "3/3" in err.err  # the progress bar, on stderr
    md = (out/"results"/"reproduce_summary.md").read_text()
    assert "3 of 3 notebooks ok" in md and "answer=42, score=0.3125" in md, md
    assert json.loads((out/"results"/"key_numbers.json").read_text()) == {"00_a": {"answer": 42, "score": 0.3125}}


def test_reproduce_failure_is_recorded_then_raised(tmp_path):
    root, out = _project(tmp_path, second="raise RuntimeError('boom')"), tmp_path/"out"
    with pytest.raises(Exception, match="boom"):
        run_notebooks("smoke", ["0*"], out, out/"executed", root=root, progress=False)
    rows = (out/"results"/"reproduce_summary.md").read_text()
    assert "1 of 3 notebooks ok" in rows
    status = [line.split("|")[-2].strip() for line in rows.splitlines() if ".ipynb" in line]
    assert status == ["ok", "failed", "not run"]


def test_reproduce_summary_without_key_numbers(tmp_path):
    t = reproduce_summary([dict(notebook="05_env.ipynb", seconds=10.0, status="ok")], tmp_path)
    assert t.headline.tolist() == ["-"] and (tmp_path/"reproduce_summary.md").exists()
    with pytest.raises(ValueError, match="status"):
        reproduce_summary([dict(notebook="05_env.ipynb", seconds=1.0, status="maybe")], tmp_path)
