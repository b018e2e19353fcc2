from __future__ import annotations

import subprocess
import sys

from kling_nb import __version__
from kling_nb.cli import main


def test_version_flag_prints_the_package_version(capsys):
    try:
        main(["--version"])
    except SystemExit as exc:
        assert exc.code == 0
    assert capsys.readouterr().out.strip() == f"kling-nb {__version__}"


def test_console_script_is_installed():
    out = subprocess.run(
        [sys.executable, "-m", "kling_nb.cli", "--version"], capture_output=True, text=True
    )
    assert out.returncode == 0
    assert out.stdout.strip() == f"kling-nb {__version__}"
