"""Living beside Supabase's ``realtime`` package: the shared folder is reported, once."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import realtime

OURS = Path(realtime.__file__).parent


def _import_realtime(site: Path | None, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if site is not None:
        env["PYTHONPATH"] = str(site)
    code = "import realtime, realtime.events, importlib; importlib.import_module('realtime')"
    return subprocess.run(
        [sys.executable, "-W", "default", "-c", code + "; print(realtime.__file__)"],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=60,
        check=True,
    )


def _supabase_beside_ours(tmp_path: Path) -> Path:
    # What `pip install realtime==2.34.1 realtime-wire` leaves: the other package's files, then
    # ours over them (its __init__.py replaced by ours). Its file names, not its code, matter.
    folder = tmp_path / "site" / "realtime"
    for name in ("_async/__init__.py", "_async/client.py", "_sync/client.py", "message.py"):
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text("# Supabase's realtime client\n")
    shutil.copytree(OURS, folder, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
    return folder.parent


def test_a_shared_folder_warns_once_naming_the_broken_package_and_the_remedy(
    tmp_path: Path,
) -> None:
    site = _supabase_beside_ours(tmp_path)
    done = _import_realtime(site, tmp_path)
    assert done.stdout.strip() == str(site / "realtime" / "__init__.py")
    assert done.stderr.count("RuntimeWarning") == 1, done.stderr
    assert "Supabase's realtime client" in done.stderr
    assert "AsyncRealtimeClient" in done.stderr
    assert "separate environments" in done.stderr


def test_our_own_folder_imports_silently(tmp_path: Path) -> None:
    done = _import_realtime(None, tmp_path)
    assert done.stdout.strip() == str(OURS / "__init__.py")
    assert done.stderr == ""
