"""JupyterLab and Notebook 7 in Debian's Chromium, driven by Playwright: the recipe from the team's
testing notes.

Shared by the browser tests (``conftest.py``) and ``benchmarks/widget_latency.py``. Never run
``playwright install``: the browser is Debian's ``/usr/bin/chromium``.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
import requests

CHROMIUM = Path(os.environ.get("KLING_NB_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "screenshots"  # git-ignored
MISSING_CHROMIUM = (
    f"Chromium not found at {CHROMIUM}: run `make system-deps` (apt-get install chromium) or set "
    "KLING_NB_CHROMIUM to its path. Never run `playwright install` here."
)


KERNEL_READY = """() => {
  const kernel = jupyterapp.shell.currentWidget?.sessionContext?.session?.kernel;
  return kernel?.status === "idle" && kernel?.connectionStatus === "connected";
}"""


class HarnessError(RuntimeError):
    """JupyterLab or Chromium could not be started; the message says what to do."""


@dataclass
class Lab:
    """A running Jupyter server (JupyterLab or Notebook 7): its URL, token and served folder."""

    url: str
    token: str
    root: Path
    app: str = "lab"

    def notebook_url(self, name: str) -> str:
        """Where the app opens the notebook ``name``."""
        if self.app == "notebook":
            return f"{self.url}/notebooks/{name}?token={self.token}"
        return f"{self.url}/lab/tree/{name}?token={self.token}&reset"

    def shutdown_kernels(self) -> None:
        auth = {"token": self.token}
        for session in requests.get(f"{self.url}/api/sessions", params=auth, timeout=10).json():
            requests.delete(f"{self.url}/api/sessions/{session['id']}", params=auth, timeout=10)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def jupyterlab(base: Path) -> Iterator[Lab]:
    """JupyterLab on a free loopback port, with config, data and runtime folders under ``base``."""
    with jupyter_server(base, "lab") as server:
        yield server


@contextlib.contextmanager
def jupyter_server(
    base: Path, app: str = "lab", env_overrides: dict[str, str | None] | None = None
) -> Iterator[Lab]:
    """``jupyter lab`` or ``jupyter notebook`` (Notebook 7) on a free loopback port.

    Config, data and runtime folders live under ``base``; ``env_overrides`` sets (or, with
    ``None``, removes) variables of the server's environment, which its kernels inherit.
    """
    root = base / "notebooks"
    root.mkdir(parents=True)
    env = dict(os.environ)
    for name, sub in (
        ("JUPYTER_CONFIG_DIR", "config"),
        ("JUPYTER_DATA_DIR", "data"),
        ("JUPYTER_RUNTIME_DIR", "runtime"),
        ("IPYTHONDIR", "ipython"),
    ):
        (base / sub).mkdir()
        env[name] = str(base / sub)
    for key, value in (env_overrides or {}).items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    labconfig = base / "config" / "labconfig"
    labconfig.mkdir()
    disabled = {"@jupyterlab/apputils-extension:announcements": True}
    (labconfig / "page_config.json").write_text(json.dumps({"disabledExtensions": disabled}))
    # Start the notebook's kernel without the "Select Kernel" dialog.
    env["JUPYTERLAB_SETTINGS_DIR"] = str(base / "settings")
    env["JUPYTERLAB_WORKSPACES_DIR"] = str(base / "workspaces")
    tracker = base / "settings" / "@jupyterlab" / "notebook-extension"
    tracker.mkdir(parents=True)
    (tracker / "tracker.jupyterlab-settings").write_text('{"autoStartDefaultKernel": true}')
    # Save widget state with the notebook, so tests can weigh what a saved view costs.
    widgets = base / "settings" / "@jupyter-widgets" / "jupyterlab-manager"
    widgets.mkdir(parents=True)
    (widgets / "plugin.jupyterlab-settings").write_text('{"saveState": true}')
    port, token = _free_port(), secrets.token_hex(16)
    app_flags = {
        "lab": [
            "--LabApp.news_url=None",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            "--LabApp.expose_app_in_browser=True",
        ],
        # Notebook 7 exposes window.jupyterapp with its own app's flag.
        "notebook": ["--JupyterNotebookApp.expose_app_in_browser=True"],
    }[app]
    cmd = [
        str(Path(sys.executable).with_name("jupyter")),
        app,
        "--no-browser",
        "--allow-root",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        *app_flags,
    ]
    url = f"http://127.0.0.1:{port}"
    log_path = base / f"{app}.log"
    failure = (
        f"`jupyter {app}` did not start; see {log_path} (is the test extra installed? "
        "pip install -e '.[simulator,test,dev]')"
    )
    with log_path.open("wb") as log:
        proc = subprocess.Popen(cmd, env=env, cwd=root, stdout=log, stderr=subprocess.STDOUT)
        with _running(proc, f"{url}/api/status?token={token}", 60, failure):
            yield Lab(url, token, root, app)


@contextlib.contextmanager
def _running(
    proc: subprocess.Popen[bytes], ready: str, seconds: float, failure: str
) -> Iterator[None]:
    """Wait until ``ready`` answers 200 (HarnessError with ``failure`` if ``proc`` exits or
    ``seconds`` pass), run the body, then stop ``proc``."""
    try:
        deadline = time.monotonic() + seconds
        while True:
            with contextlib.suppress(requests.ConnectionError):
                if requests.get(ready, timeout=2).ok:
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise HarnessError(failure)
            time.sleep(0.1)
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _require_chromium() -> None:
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        raise HarnessError(MISSING_CHROMIUM)


@contextlib.contextmanager
def chromium() -> Iterator[Any]:
    """Debian's Chromium under Playwright (HarnessError if it is not installed)."""
    _require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@contextlib.contextmanager
def chromium_endpoint(base: Path) -> Iterator[str]:
    """Debian's headless Chromium with no client attached; yields its DevTools URL.

    Playwright's ``connect_over_cdp`` drives it and ``close()`` only disconnects: the page in its
    default context then runs with no DevTools attached, as in a user's browser (DevTools reports
    every WebSocket frame to its client, base64-encoded, which slows big transfers several-fold).
    ``base`` holds the browser's profile.
    """
    _require_chromium()
    port = _free_port()
    cmd = [
        str(CHROMIUM),
        "--headless",
        *CHROMIUM_ARGS,
        f"--remote-debugging-port={port}",
        f"--user-data-dir={base}",
        "--window-size=1280,2400",
        "about:blank",
    ]
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with _running(proc, f"{url}/json/version", 30, f"{CHROMIUM} did not open its DevTools port"):
        yield url


def write_notebook(lab: Lab, name: str, cells: list[str]) -> Path:
    """Write a notebook of code cells into the served folder."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in cells]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    path = lab.root / name
    nbformat.write(nb, path)
    return path


@dataclass
class NotebookPage:
    """An open notebook: its Playwright page and the dialogs it raised (there should be none)."""

    page: Any
    dialogs: list[str]
    path: Path

    def cell(self, index: int) -> Any:
        return self.page.locator(".jp-Notebook .jp-Cell").nth(index)

    def output(self, index: int) -> Any:
        return self.cell(index).locator(".jp-OutputArea")

    def run_all(self) -> None:
        # Not awaited: the command's promise settles only when every cell has run.
        self.page.evaluate("() => { jupyterapp.commands.execute('notebook:run-all-cells'); }")


def open_notebook(
    lab: Lab,
    browser: Any,
    name: str,
    cells: list[str],
    *,
    run: bool = True,
    init_script: str | None = None,
    page: Any = None,
) -> NotebookPage:
    """Write ``cells`` as a notebook, open it, wait for an idle kernel and (by default) run all.

    ``init_script`` runs in the page before its own scripts (e.g. to make it look like VS Code).
    ``page``: open it in this page (``browser`` is then unused) instead of in a new context.
    """
    path = write_notebook(lab, name, cells)
    if page is None:
        context = browser.new_context(viewport={"width": 1280, "height": 2400})
        if init_script:
            context.add_init_script(init_script)
        page = context.new_page()
    dialogs: list[str] = []

    def on_dialog(dialog: Any) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.goto(lab.notebook_url(name))
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
    page.wait_for_function(KERNEL_READY, timeout=60_000)
    opened = NotebookPage(page, dialogs, path)
    if run:
        opened.run_all()
    return opened


def screenshot(locator: Any, name: str) -> Path:
    """Save a screenshot of ``locator`` into the repository's ``screenshots/`` folder."""
    SCREENSHOTS.mkdir(exist_ok=True)
    target = SCREENSHOTS / name
    locator.screenshot(path=str(target))
    return target
