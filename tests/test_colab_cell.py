"""scripts/colab_cell.py: the Kaggle/Colab install cell at the top of every notebook, and the profile hand-off."""
import json, os, shutil, subprocess, sys, types
from pathlib import Path

import pytest
from script_loader import load_script

from tradenb.core import PROFILE_ENV, Config, default_profile

ROOT = Path(__file__).resolve().parent.parent
cc = load_script("colab_cell")
HOST_VARS = ("KAGGLE_KERNEL_RUN_TYPE", "COLAB_RELEASE_TAG", "CI", "TRADENB_ROOT", PROFILE_ENV)


@pytest.fixture
def run_cell(monkeypatch):
    "Run the install cell as a notebook would, with no host variables set and `subprocess.run` recorded, not run."
    for k in HOST_VARS:   # set, then delete: monkeypatch then unsets at teardown what the cell sets (no leak)
        monkeypatch.setenv(k, "x"); monkeypatch.delenv(k)
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    monkeypatch.setattr(sys, "path", list(sys.path))
    calls = []
    monkeypatch.setattr(subprocess, "run", lambda cmd, **kw: calls.append(cmd))

    def run():
        exec(compile(cc.cell_source(cc.repo_url(ROOT)), "install-cell", "exec"), {})
        return calls
    return run


def test_noop_outside_kaggle_and_colab(run_cell):
    path = list(sys.path)
    assert run_cell() == []
    assert PROFILE_ENV not in os.environ and "TRADENB_ROOT" not in os.environ and sys.path == path


@pytest.mark.parametrize("var, root", [("KAGGLE_KERNEL_RUN_TYPE", "/kaggle/working/tradenb"),
                                       ("COLAB_RELEASE_TAG", "/content/tradenb")])
def test_installs_on_a_host(run_cell, monkeypatch, var, root):
    monkeypatch.setenv(var, "Interactive")
    calls = run_cell()
    repo = cc.repo_url(ROOT)
    assert repo.startswith("https://") and calls[0] == ["git", "clone", "--depth", "1", repo, root]
    assert calls[1][:2] == [sys.executable, "-m"] and calls[1][-1] == f"{root}[{cc.EXTRAS}]"
    assert os.environ[PROFILE_ENV] == "full" and os.environ["TRADENB_ROOT"] == root and sys.path[0] == root
    assert default_profile() == "full" and Config.from_profile().profile == "full"
    assert Config.from_profile("smoke").profile == "smoke"   # papermill's -p profile still wins


def test_colab_detected_from_its_module(run_cell, monkeypatch):
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    assert len(run_cell()) == 2 and os.environ[PROFILE_ENV] == "full"


def test_existing_clone_and_ci(run_cell, monkeypatch, tmp_path):
    monkeypatch.setenv("KAGGLE_KERNEL_RUN_TYPE", "Batch"); monkeypatch.setenv("TRADENB_ROOT", str(tmp_path))
    calls = run_cell()
    assert [c[0] for c in calls] == [sys.executable] and calls[0][-1].startswith(str(tmp_path))   # no second clone
    calls.clear(); monkeypatch.setenv("CI", "true"); monkeypatch.delenv(PROFILE_ENV)
    assert run_cell() == [] and PROFILE_ENV not in os.environ   # CI: a no-op even on a host


def test_every_notebook_has_the_cell_and_the_script_is_idempotent(tmp_path):
    nbs = cc.notebooks(ROOT)
    assert nbs, "no numbered notebooks found"
    for p in nbs:
        nb = json.loads(p.read_text())
        code = [c for c in nb["cells"] if c["cell_type"] == "code"]
        assert code[0]["id"] == cc.CELL_ID and "".join(code[0]["source"]) == cc.cell_source(cc.repo_url(ROOT)), \
            f"{p.name}: the install cell is missing or stale: run `python scripts/colab_cell.py`"
        assert sum(cc._is_install(c) for c in nb["cells"]) == 1
        assert "#| export" not in "".join(code[0]["source"])
        params = [c for c in code if "parameters" in c["metadata"].get("tags", [])]
        assert len(params) == 1 and cc.PARAM_NEW in "".join(params[0]["source"]), p.name
    # on a copy: an old notebook gets the cell once; a second run changes nothing
    (tmp_path/"nbs").mkdir(); shutil.copy(ROOT/"pyproject.toml", tmp_path)
    nb = json.loads(nbs[0].read_text())
    nb["cells"] = [c for c in nb["cells"] if not cc._is_install(c)]
    for c in nb["cells"]:
        if "parameters" in c["metadata"].get("tags", []): c["source"] = ['profile = "smoke"\n', "output_dir = None"]
    (tmp_path/"nbs"/"00_x.ipynb").write_text(cc.dumps(nb))
    (tmp_path/"README.md").write_text(f"# x\n\n{cc.README_START}\nold\n{cc.README_END}\n\nrest\n")
    assert cc.main(["--root", str(tmp_path), "--check"]) == 1
    assert cc.main(["--root", str(tmp_path)]) == 0
    first = {p.name: p.read_text() for p in tmp_path.rglob("*") if p.is_file()}
    assert cc.main(["--root", str(tmp_path), "--check"]) == 0 and cc.main(["--root", str(tmp_path)]) == 0
    assert first == {p.name: p.read_text() for p in tmp_path.rglob("*") if p.is_file()}
    assert (tmp_path/"nbs"/"00_x.ipynb").read_text() == nbs[0].read_text()   # what the checkout has
    readme = (tmp_path/"README.md").read_text()
    assert "old" not in readme and readme.endswith("rest\n")
    assert "https://colab.research.google.com/github/tradenb/tradenb/blob/main/nbs/00_x.ipynb" in readme


def test_readme_links_every_notebook():
    readme = (ROOT/"README.md").read_text()
    assert readme.startswith("# tradenb\n\n![") and "figures/paper_stages.png" in readme.split("\n## ")[0]
    for cmd in ("make reproduce", "make test", "make docs"): assert cmd in readme.split("\n## ")[0]
    for p in cc.notebooks(ROOT):
        assert f"colab.research.google.com/github/tradenb/tradenb/blob/{cc.BRANCH}/nbs/{p.name}" in readme, p.name
        assert f"kaggle.com/kernels/welcome?src={cc.repo_url(ROOT)}/blob/{cc.BRANCH}/nbs/{p.name}" in readme, p.name


def test_papermill_parameters_land_after_the_install_cell(tmp_path):
    "`-p profile full` is injected after the `parameters` cell, which comes after the install cell."
    pm = pytest.importorskip("papermill")
    out = tmp_path/"out.ipynb"
    pm.execute_notebook(str(ROOT/"nbs"/"05_env.ipynb"), str(out), parameters=dict(profile="full"), prepare_only=True,
                        kernel_name="python3", log_output=False, progress_bar=False)
    cells = json.loads(out.read_text())["cells"]
    tags = [c["metadata"].get("tags", []) for c in cells]
    inst = next(i for i, t in enumerate(tags) if cc.TAG in t)
    par = next(i for i, t in enumerate(tags) if "parameters" in t)
    inj = next(i for i, t in enumerate(tags) if "injected-parameters" in t)
    assert inst < par < inj == par + 1 and "profile = \"full\"" in "".join(cells[inj]["source"])
