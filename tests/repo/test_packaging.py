"""The repo's own promises: dependency lists agree, the README shows the two commands."""

import re

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _name_and_bound(req: str) -> tuple[str, str]:
    """('name', 'bound;marker') with spaces removed, so both files may space a marker as they like."""
    m = re.match(r"\s*([A-Za-z0-9_.-]+)\s*(.*)", req)
    return m.group(1).lower().replace("_", "-"), m.group(2).replace(" ", "")


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = dict(_name_and_bound(r) for r in project["dependencies"])
    for extra in project["optional-dependencies"].values():
        wanted.update(_name_and_bound(r) for r in extra)
    conda = {}
    text = (ROOT / "environment.yml").read_text()
    for line in text[text.index("dependencies:"):].splitlines():
        m = re.match(r"\s+-\s+([A-Za-z0-9_.-]+)([^#]*?)\s*$", line)
        if m and m.group(1) not in ("python", "pip", "-e"):
            conda[m.group(1).lower()] = m.group(2).replace(" ", "")
    assert conda == wanted


def test_readme_shows_both_commands():
    readme = (ROOT / "README.md").read_text()
    assert "make lab" in readme and "make test" in readme


def test_notebooks_are_stripped_and_use_python3():
    import json
    for nb_path in list((ROOT / "chapters").glob("*.ipynb")) + list((ROOT / "solutions").glob("*.ipynb")) \
            + list((ROOT / "labs").glob("*.ipynb")):
        nb = json.loads(nb_path.read_text())
        assert nb["metadata"]["kernelspec"]["name"] == "python3", nb_path
        assert re.match(r"^(\d\d|A\d|lab\d\d)_[a-z0-9_]+\.ipynb$", nb_path.name), nb_path
        for cell in nb["cells"]:
            if cell["cell_type"] == "code":
                assert not cell.get("outputs") and cell.get("execution_count") is None, nb_path
