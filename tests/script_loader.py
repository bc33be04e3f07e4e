"The project's `scripts/*.py` as modules for the tests (they are command-line scripts, not a package)."
import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def load_script(name: str):
    "`scripts/<name>.py` imported as a module called `name`."
    spec = importlib.util.spec_from_file_location(name, ROOT/"scripts"/f"{name}.py")
    module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module)
    return module
