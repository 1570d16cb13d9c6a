"""Headless Chromium for tests that look at a page as a person would: Debian's ``chromium``.

``executable()`` finds ``chromium`` on PATH or installs it once with apt (CI is a fresh clone on a
Debian machine, as root); ``render(url, screenshot=path)`` is the DOM after Chromium loaded the page
and, in the same run, a PNG of it. Nothing is skipped: a missing browser that apt cannot
install fails with the command to run by hand.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import threading
from pathlib import Path

import pytest

INSTALL = "apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium"
FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-dev-shm-usage",
         "--hide-scrollbars")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_lock = threading.Lock()


def executable() -> str:
    """Path of ``chromium``, installed with apt on first use if it is not on PATH."""
    with _lock:
        found = shutil.which("chromium")
        if found:
            return found
        if os.geteuid() != 0 or not shutil.which("apt-get"):
            pytest.fail(f"chromium is not on PATH; install it as root with: {INSTALL}", pytrace=False)
        try:
            done = subprocess.run(["sh", "-c", INSTALL], capture_output=True, text=True, check=False,
                                  env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"}, timeout=1800)
        except subprocess.TimeoutExpired:
            pytest.fail(f"installing chromium took over 30 minutes: {INSTALL}", pytrace=False)
        found = shutil.which("chromium")
        if done.returncode != 0 or not found:
            pytest.fail(f"could not install chromium (exit {done.returncode}) with: {INSTALL}\n"
                        f"{(done.stdout + done.stderr)[-3000:]}", pytrace=False)
        return found


def _run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """One Chromium run in its own process group, which is killed afterwards: a hung browser or a helper
    it left behind (zygote, renderer, crash handler) does not outlive the test."""
    # A fresh profile per run: no first-run state, no lock shared with another Chromium.
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        command = [executable(), *FLAGS, f"--user-data-dir={profile}", *args]
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                   start_new_session=True)
        hung = False
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            hung = True
        finally:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if hung:
            process.communicate()
            raise AssertionError(f"chromium {' '.join(args)} gave no answer within {timeout} s (killed)")
    if process.returncode != 0:
        raise AssertionError(f"chromium {' '.join(args)} exited {process.returncode}:\n{stderr[-3000:]}")
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


def render(url: str, screenshot: Path | None = None, size: tuple[int, int] = (1280, 900)) -> str:
    """The serialized DOM of ``url`` after Chromium loaded it (``--dump-dom``); with ``screenshot``, the same
    run also writes a PNG of the page at ``size`` (width, height) there, and fails if it wrote none."""
    if screenshot is None:
        return _run("--dump-dom", url).stdout
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    screenshot.unlink(missing_ok=True)
    dom = _run("--dump-dom", f"--screenshot={screenshot}", f"--window-size={size[0]},{size[1]}", url).stdout
    assert screenshot.is_file(), f"chromium wrote no screenshot of {url} at {screenshot}"
    return dom
