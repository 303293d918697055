"""`make lab` really serves the course: as root too, index first, tidy file browser, notebooks open unmodified."""

import fnmatch
import json
import os
import re
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from browser.lab_server import LabServer

ROOT = Path(__file__).resolve().parents[2]
VENV = ROOT / ".venv"
NOTEBOOKS = sorted([*ROOT.glob("chapters/*.ipynb"), *ROOT.glob("labs/*.ipynb"), *ROOT.glob("solutions/*.ipynb")])
ARTEFACTS = ["*.egg-info", "__pycache__", "*.pyc", ".pytest_cache", ".hypothesis", ".ruff_cache",
             ".ipynb_checkpoints", ".browser-screenshots", ".venv"]

needs_venv = pytest.mark.skipif(not (VENV / "bin" / "jupyter").exists(), reason="needs the .venv that make creates")


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """One `make lab` for this module; the test passes no --allow-root of its own."""
    server = LabServer(tmp_path_factory.mktemp("make-lab"))
    assert "allow-root" not in " ".join(server.command)
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


def _names(lab, path=""):
    return {entry["name"] for entry in lab.api(f"/api/contents/{path}")["content"]}


@needs_venv
def test_make_lab_starts_as_root_and_says_so(lab):
    said = [line for line in lab.log().splitlines() if "--allow-root" in line]
    if os.geteuid() == 0:
        assert len(said) == 1 and said[0].startswith("make lab:"), lab.log()[:2000]
    else:
        assert said == []
    assert "Running as root is not recommended" not in lab.log()


@needs_venv
def test_file_browser_shows_the_course_and_hides_build_artefacts(lab):
    root = _names(lab)
    assert {"chapters", "labs", "README.md"} <= root
    listed = root | {f"consistency_lab/{n}" for n in _names(lab, "consistency_lab")} \
        | {f"tests/{n}" for n in _names(lab, "tests")}
    hidden = sorted(name for name in listed for glob in ARTEFACTS if fnmatch.fnmatch(Path(name).name, glob))
    assert hidden == [], "build artefacts listed in the file browser"
    # Some exist on disk (pip -e writes the egg-info, imports write __pycache__): hiding is what happened.
    on_disk = [p.name for p in [*ROOT.iterdir(), *(ROOT / "tests").iterdir(), *(ROOT / "consistency_lab").iterdir()]
               if any(fnmatch.fnmatch(p.name, g) for g in ARTEFACTS)]
    assert on_disk, "expected some build artefact on disk to prove the hiding"


@needs_venv
def test_first_run_opens_the_index_with_the_file_browser_at_the_course_root(lab):
    opener = urllib.request.build_opener(type("NoRedirect", (urllib.request.HTTPRedirectHandler,),
                                              {"redirect_request": lambda *a, **k: None}))
    try:
        opener.open(lab.url(f"/?token={lab.token}"), timeout=5)
        location = ""
    except urllib.error.HTTPError as exc:
        location = exc.headers.get("Location", "")
    # /lab loads the workspace that `make lab` seeds on first run; a /lab/tree/<file> URL would
    # move the file browser into that file's folder.
    assert location.split("?")[0] == "/lab", location
    workspace = lab.api("/lab/api/workspaces/default")["data"]
    main = workspace["layout-restorer:data"]["main"]
    assert main["current"] == "notebook:chapters/00_index.ipynb"
    assert workspace["notebook:chapters/00_index.ipynb"]["data"]["path"] == "chapters/00_index.ipynb"
    assert workspace.get("file-browser-filebrowser:cwd", {"path": ""})["path"] == ""


@needs_venv
def test_no_news_prompt_and_no_update_check(lab):
    setting = lab.api("/lab/api/settings/@jupyterlab/apputils-extension:notification")
    defaults = {key: prop.get("default") for key, prop in setting["schema"]["properties"].items()}
    assert defaults["fetchNews"] == "false"  # "none" would ask the student on first start
    assert defaults["checkForUpdates"] is False


@needs_venv
def test_nbgraders_menus_and_server_extensions_are_off_in_the_course(lab):
    """nbgrader comes with the test tools; a student's JupyterLab must not grow its menus."""
    request = urllib.request.Request(lab.url("/lab"), headers={"Authorization": f"token {lab.token}"})
    with urllib.request.urlopen(request, timeout=10) as reply:
        page = reply.read().decode()
    config = json.loads(re.search(r'<script id="jupyter-config-data"[^>]*>(.*?)</script>', page, re.S).group(1))
    disabled = config.get("disabledExtensions", [])
    assert "@jupyter/nbgrader" in disabled
    with pytest.raises(urllib.error.HTTPError) as missing:  # the formgrader's page is not served
        lab.api("/formgrader")
    assert missing.value.code == 404


@needs_venv
def test_registered_kernel_reports_what_the_notebooks_store():
    """JupyterLab copies the kernel's display name and language_info into an opened notebook; equal means unmodified."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager

    specs = KernelSpecManager(kernel_dirs=[str(VENV / "share" / "jupyter" / "kernels")])
    spec = specs.get_kernel_spec("python3")
    km = KernelManager(kernel_name="python3", kernel_spec_manager=specs)
    km.start_kernel()
    kc = km.client()
    try:
        kc.start_channels()
        kc.wait_for_ready(timeout=60)
        kc.kernel_info()
        info = kc.get_shell_msg(timeout=30)["content"]
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    assert NOTEBOOKS
    for path in NOTEBOOKS:
        metadata = json.loads(path.read_text())["metadata"]
        assert metadata["kernelspec"]["name"] == "python3", path.name
        assert metadata["kernelspec"]["display_name"] == spec.display_name, path.name
        assert metadata["language_info"] == info["language_info"], path.name
