"""scripts/nbval_copies.py and scripts/nbval_timings.py: how `make test-nbval` prepares its run and times it."""
from pathlib import Path

import nbformat
from script_loader import load_script

ROOT = Path(__file__).resolve().parents[1]


def test_copies_give_cells_with_outputs_an_execution_count_and_change_nothing_else(tmp_path):
    load_script("nbval_copies").main([str(tmp_path)])
    names = sorted(p.name for p in (ROOT/"nbs").glob("[0-9][0-9]_*.ipynb"))
    assert sorted(p.name for p in tmp_path.glob("*.ipynb")) == names
    checked = 0
    for n in names:
        ref, cp = nbformat.read(ROOT/"nbs"/n, as_version=4), nbformat.read(tmp_path/n, as_version=4)
        assert [c.source for c in ref.cells] == [c.source for c in cp.cells]
        for r, c in zip(ref.cells, cp.cells):
            if c.cell_type != "code": continue
            assert c.outputs == r.outputs
            assert (c.execution_count is not None) == bool(c.outputs)   # nbval compares only counted cells
            checked += "NBVAL_CHECK_OUTPUT" in c.source and bool(c.outputs)
    assert checked >= 3   # the marked cells carry committed outputs (else nbval fails: "Unrun reference cell")


def test_timings_sum_cells_per_notebook_and_flag_failures(tmp_path):
    xml = tmp_path/"r.xml"
    xml.write_text('<testsuites><testsuite>'
                   '<testcase classname="build.nbval.01_data.ipynb" name="Cell 0" time="1.5"/>'
                   '<testcase classname="build.nbval.01_data.ipynb" name="Cell 1" time="2.0"/>'
                   '<testcase classname="build.nbval.05_env.ipynb" name="Cell 0" time="4.0"><failure/></testcase>'
                   '</testsuite></testsuites>')
    t = load_script("nbval_timings").notebook_seconds(xml).set_index("notebook")
    assert t.loc["01_data.ipynb", "seconds"] == 3.5 and t.loc["01_data.ipynb", "status"] == "ok"
    assert t.loc["05_env.ipynb", "status"] == "failed"
