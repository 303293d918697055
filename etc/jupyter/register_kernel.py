"""Register this environment's kernel as ``python3`` so that opening a course notebook changes nothing.

JupyterLab copies the running kernel's name, display name and ``language_info`` into a
notebook's metadata as soon as the kernel starts; any difference from what the file stores
marks the notebook modified before the student has touched it.  The course notebooks store
the version-free metadata below (a Python version in git would change with every machine),
so the kernel is registered with the same display name and reports the same language_info.

Run by ``make`` with the environment's own interpreter: ``.venv/bin/python etc/jupyter/register_kernel.py``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

#: What every notebook in chapters/, labs/ and solutions/ stores (tests/repo/test_make_lab.py checks both sides).
DISPLAY_NAME = "Python 3"
#: ipykernel's own language_info without "version" (which would differ from machine to machine):
#: IPython syntax highlighting and ".py" for "Export as executable script" keep working.
LANGUAGE_INFO = {"codemirror_mode": {"name": "ipython", "version": 3}, "file_extension": ".py",
                 "mimetype": "text/x-python", "name": "python", "nbconvert_exporter": "python",
                 "pygments_lexer": "ipython3"}


def register(prefix: str = sys.prefix) -> Path:
    """Install the ``python3`` kernelspec under ``prefix`` and return the path of its kernel.json."""
    from ipykernel.kernelspec import install

    kernel_json = Path(install(kernel_name="python3", display_name=DISPLAY_NAME, prefix=prefix)) / "kernel.json"
    spec = json.loads(kernel_json.read_text())
    # Runs once inside the kernel before it answers JupyterLab's first kernel_info request.
    spec["argv"].append(f"--IPKernelApp.exec_lines=get_ipython().kernel.language_info = {LANGUAGE_INFO!r}")
    kernel_json.write_text(json.dumps(spec, indent=1) + "\n")
    return kernel_json


if __name__ == "__main__":
    register()
