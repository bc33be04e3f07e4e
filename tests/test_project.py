"Project-wide checks: every public parameter is documented, and no file refers to a path outside the project."
import ast
import dataclasses
import importlib
import inspect
import io
import json
import pkgutil
import re
import subprocess
import textwrap
import tokenize
from pathlib import Path

import pytest
from fastcore.docments import docments

import tradenb

ROOT = Path(__file__).resolve().parent.parent
SKIPPED_PARAMS = {"self", "cls"}
VARIADIC = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)


def _modules():
    "Every tradenb module except the generated ones (`_modidx`, `__init__`)."
    return [importlib.import_module(f"tradenb.{m.name}") for m in pkgutil.iter_modules(tradenb.__path__)
            if not m.name.startswith("_")]


def _typer_help(default) -> bool:
    "A typer `Option`/`Argument` default with a `help=` text documents its CLI parameter (what `--help` shows)."
    return type(default).__module__.startswith("typer") and bool(getattr(default, "help", None))


def _model_comments(cls) -> dict[str, str | None]:
    """A pydantic model's field comments, read by fastcore's rules for a dataclass's (a comment on the field's line,
    or comment lines just above it): `docments` itself reads a model's `__init__(**data)`, so no fields."""
    try: src = textwrap.dedent(inspect.getsource(cls))
    except (OSError, TypeError): return {}
    body = ast.parse(src).body[0].body
    parms = {n.lineno: n.target.id for n in body if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)}
    comments = {t.start[0]: t.string.lstrip()[1:] for t in tokenize.generate_tokens(io.StringIO(src).readline)
                if t.type == tokenize.COMMENT}
    return {name: _field_comment(line, comments, parms) for line, name in parms.items()}


def _field_comment(line: int, comments: dict[int, str], parms: dict[int, str]) -> str | None:
    """The docment rule (as fastcore's `docments` applies it to a dataclass): the comment on the field's own line,
    else the comment lines just above it (up to the previous field)."""
    if line in comments: return comments[line].strip()
    above = []
    while (line := line - 1) and line in comments and line not in parms: above.append(comments[line])
    return textwrap.dedent("\n".join(reversed(above))) if above else None


def _field_description(f, name: str) -> bool:
    "A pydantic model's field with a `Field(description=...)` is documented (it is what the API schema shows)."
    field = (getattr(f, "model_fields", None) or {}).get(name)
    return bool(field is not None and field.description)


def _undocumented(f, skip_first: bool = False) -> list[str]:
    "Parameters of `f` (a function, or a class: its dataclass/pydantic fields or `__init__`) without a docment."
    try: sig = inspect.signature(f)
    except (TypeError, ValueError): return []
    docs = {k: v.docment for k, v in docments(f, full=True, returns=False).items()}
    if inspect.isclass(f) and hasattr(f, "model_fields"):
        docs.update({k: v for k, v in _model_comments(f).items() if v})
    params = list(sig.parameters.values())[1 if skip_first else 0:]  # a method's `self`/`cls`, whatever its name
    params = [p for p in params if p.kind not in VARIADIC and p.name not in SKIPPED_PARAMS]
    if inspect.isclass(f) and (dataclasses.is_dataclass(f) or hasattr(f, "model_fields")):
        # fields: only those the class declares itself (inherited ones are checked on the class that declares them)
        own = inspect.get_annotations(f)
        params = [p for p in params if p.name in own]
    return [p.name for p in params
            if not (docs.get(p.name) or "").strip()
            and not _typer_help(p.default) and not _field_description(f, p.name)]


def _public_methods(cls):
    "Public functions defined in the class body (plain, static and class methods; not properties or inherited)."
    for name, attr in vars(cls).items():
        if name.startswith("_"): continue
        if isinstance(attr, staticmethod): yield name, attr.__func__, False
        elif isinstance(attr, classmethod): yield name, attr.__func__, True
        elif inspect.isfunction(attr): yield name, attr, True


def docment_offenders() -> dict[str, list[str]]:
    "`module.name` -> undocumented parameters, for every public function and class of every tradenb module."
    out = {}
    for mod in _modules():
        for name in getattr(mod, "__all__", []):
            obj = getattr(mod, name, None)
            if not (inspect.isfunction(obj) or inspect.isclass(obj)) or obj.__module__ != mod.__name__: continue
            if missing := _undocumented(obj): out[f"{mod.__name__}.{name}"] = missing
            if inspect.isclass(obj):
                for mname, meth, bound in _public_methods(obj):
                    if missing := _undocumented(meth, skip_first=bound): out[f"{mod.__name__}.{name}.{mname}"] = missing
    return out


def test_public_parameters_have_docments():
    offenders = docment_offenders()
    n = sum(map(len, offenders.values()))
    assert not offenders, (f"{n} parameter(s) of {len(offenders)} public function(s)/class(es) have no docment "
                           "(a `# comment` after the parameter):\n"
                           + "\n".join(f"  {k}: {', '.join(v)}" for k, v in sorted(offenders.items())))


# --- no references outside the project ----------------------------------------------------------------------------

TEXT_SUFFIXES = {".py", ".ipynb", ".md", ".toml", ".yml", ".yaml"}
TEXT_NAMES = {"Makefile"}
# this file spells the patterns it looks for
SELF = Path(__file__).resolve().relative_to(ROOT).as_posix()

# explicit references to things that are not in the project (matched anywhere in the text)
OUTSIDE_PATTERNS = {
    r"(?<![\w.])/work/": "an absolute path on the machine it was written on",
    r"(?<![\w.:/])/(?:root|home)/": "an absolute home path",
    r"\bshared/": "the shared folder beside the project",
    r"\bSTACK\.md\b": "STACK.md is not part of the project",
}
RELATIVE = re.compile(r"(?<![\w.])((?:\.\./)+)([\w.\-/]*)")


def _project_files() -> list[str]:
    "Tracked files plus untracked ones git does not ignore (so new files are checked before they are committed)."
    try:
        out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                             capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError): pytest.skip("not a git checkout")
    return sorted({f for f in out.splitlines() if (ROOT/f).is_file()})


def _text_files(files: list[str]) -> list[str]:
    return [f for f in files if f != SELF and (Path(f).suffix in TEXT_SUFFIXES or Path(f).name in TEXT_NAMES
                                               or f.startswith(".ci/"))]


def _chunks(rel: str):
    "(where, text) pairs: a notebook's cells (sources and text outputs), else the file's lines."
    path = ROOT/rel
    if path.suffix == ".ipynb":
        for i, cell in enumerate(json.loads(path.read_text(encoding="utf-8")).get("cells", [])):
            src = "".join(cell.get("source", []))
            outs = "".join("".join(o.get("text", [])) + "".join((o.get("data") or {}).get("text/plain", []))
                           for o in cell.get("outputs", []))
            for j, line in enumerate((src + "\n" + outs).splitlines(), 1): yield f"{rel} cell {i} line {j}", line
    else:
        for j, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            yield f"{rel}:{j}", line


def outside_references() -> list[str]:
    files = _project_files()
    patterns = dict(OUTSIDE_PATTERNS)
    if not any(Path(f).name == "ARCHITECTURE.md" for f in files):
        patterns[r"\bARCHITECTURE\.md\b"] = "ARCHITECTURE.md is not part of the project"
    root = ROOT.resolve()
    found = []
    for rel in _text_files(files):
        base = (ROOT/rel).parent
        for where, line in _chunks(rel):
            for pat, why in patterns.items():
                for m in re.finditer(pat, line): found.append(f"{where}: {m.group(0)!r} ({why})")
            for m in RELATIVE.finditer(line):
                # a relative path resolved from the file's folder (a notebook's working directory is its folder)
                target = (base/m.group(0)).resolve()
                if not target.is_relative_to(root):
                    found.append(f"{where}: {m.group(0)!r} (leaves the project: resolves to {target})")
    return found


def test_no_references_outside_the_project():
    found = outside_references()
    assert not found, f"{len(found)} reference(s) to paths outside the project:\n" + "\n".join(f"  {f}" for f in found)


def test_the_checks_can_fail(tmp_path):
    "The pattern and path checks catch what they are for (so that a pass means something)."
    assert _undocumented(lambda a, b: None) == ["a", "b"]
    def documented(a,  # the a
                   *args, **kwargs): pass
    assert _undocumented(documented) == []
    hits = [pat for pat in OUTSIDE_PATTERNS for s in ["see ../shared/STACK.md", "/work/main/x", "/home/u/x"]
            if re.search(pat, s)]
    assert len(hits) >= 3
    assert (ROOT/"tradenb"/RELATIVE.search("../nbs/00_core.ipynb").group(0)).resolve().is_relative_to(ROOT.resolve())
    assert not (ROOT/RELATIVE.search("x ../shared/STACK.md").group(0)).resolve().is_relative_to(ROOT.resolve())


# --- the layers contract places every module ------------------------------------------------------------------------

def test_every_module_has_a_layer():
    "import-linter only checks the modules a contract names: a new module left out of the layers is unchecked."
    import tomllib
    contracts = tomllib.loads((ROOT/"pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    layers = next(c["layers"] for c in contracts if c["type"] == "layers")
    placed = [m.strip() for line in layers for m in line.split("|")]
    modules = {m.__name__ for m in _modules()}
    assert len(placed) == len(set(placed)), "a module is placed twice"
    assert modules == set(placed), (f"not placed in the layers: {sorted(modules - set(placed))}; "
                                    f"placed but not a module: {sorted(set(placed) - modules)}")
