"""`make lab` really serves the course: the file browser shows it and the index opens first."""

import shlex
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(not (ROOT / ".venv" / "bin" / "jupyter").exists(), reason="needs the .venv that make creates")
def test_make_lab_serves_the_course_and_opens_the_index():
    port = _free_port()
    args = f"--no-browser --port {port} --ServerApp.token=t --allow-root --ServerApp.port_retries=0"
    recipe = subprocess.run(["make", "-s", "-n", "lab", f"JUPYTER_ARGS={args}"], cwd=ROOT,
                            capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
    assert "jupyter lab" in recipe
    server = subprocess.Popen(shlex.split(recipe), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        listing = None
        for _ in range(120):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/contents?token=t", timeout=2) as r:
                    listing = r.read().decode()
                break
            except OSError:
                time.sleep(0.25)
        assert listing is not None, "JupyterLab did not answer within 30 s"
        for folder in ("chapters", "labs"):
            assert f'"name": "{folder}"' in listing or f'"name":"{folder}"' in listing
        opener = urllib.request.build_opener(type("NoRedirect", (urllib.request.HTTPRedirectHandler,),
                                                  {"redirect_request": lambda *a, **k: None}))
        try:
            opener.open(f"http://127.0.0.1:{port}/?token=t", timeout=5)
            location = ""
        except urllib.error.HTTPError as exc:
            location = exc.headers.get("Location", "")
        assert "/lab/tree/chapters/00_index.ipynb" in location
    finally:
        server.terminate()
        server.wait(timeout=20)
