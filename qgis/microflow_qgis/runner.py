"""Run the installed ``microflow`` command in a subprocess: QGIS never imports torch.

Pure Python (no QGIS import), so it is tested without QGIS. :func:`find_executable` resolves the
command (the provider setting, else ``$MICROFLOW_EXECUTABLE``, else ``microflow`` on the PATH) or
raises :class:`MicroflowNotFound` with a message saying how to set it. :func:`run` streams the
command's stderr: tqdm's ``NN%|`` becomes a progress callback [0, 100], other lines go to a log
callback, and a cancel callback is polled every 0.2 s (the process is then terminated, then killed).
"""

from __future__ import annotations

import os
import queue
import re
import shutil
import subprocess
import threading
import time
from typing import Callable

ENV_VARIABLE = "MICROFLOW_EXECUTABLE"
PERCENT = re.compile(r"(\d{1,3})%\|")
POLL_S = 0.2          # s between two looks at the cancel flag
TERMINATE_GRACE_S = 5  # s a cancelled process gets to exit before it is killed


class MicroflowNotFound(RuntimeError):
    """The microflow command is not where the settings say."""


class MicroflowFailed(RuntimeError):
    """The command exited with an error; the message is its last error line."""


def find_executable(setting: str | None = None) -> str:
    """The path of the ``microflow`` command: ``setting``, ``$MICROFLOW_EXECUTABLE`` or the PATH's."""
    for candidate, origin in ((setting, "the provider setting"), (os.environ.get(ENV_VARIABLE), f"${ENV_VARIABLE}")):
        if candidate:
            found = candidate if os.path.isfile(candidate) else shutil.which(candidate)
            if found and os.access(found, os.X_OK):
                return found
            raise MicroflowNotFound(
                f"microflow executable not found at {candidate!r} ({origin}). Set it in Settings > Options > "
                "Processing > Providers > microflow-geo > 'microflow executable', e.g. /path/to/venv/bin/microflow")
    found = shutil.which("microflow")
    if found:
        return found
    raise MicroflowNotFound(
        "microflow executable not found: install microflow-geo (pip install microflow-geo) and set its path in "
        "Settings > Options > Processing > Providers > microflow-geo > 'microflow executable' "
        f"(or the {ENV_VARIABLE} environment variable)")


def estimate_args(pre: str, post: str, output: str, method: str | None = None, model: str | None = None,
                  regularize: str | None = None, units: str | None = None, bounds=None,
                  ensemble: int = 1, band: str | int | None = None, nodata: float | None = None,
                  extra: list[str] | None = None) -> list[str]:
    """Arguments of ``microflow estimate`` (without the executable). ``bounds``: XMIN,YMIN,XMAX,YMAX
    in pre's CRS (a 4-sequence), or None for the whole pair. ``ensemble`` > 1: MicroFlow's flip
    ensemble (``--ensemble``; the CLI refuses it for a correlator). ``band``: a 1-based index,
    "luma" or "auto" (the CLI checks it); ``nodata``: a value that marks no data in both images."""
    args = ["estimate", pre, post, "-o", output, "--overwrite"]
    if method:
        args += ["--method", method]
    if model:
        args += ["--model", model]
    if regularize:
        args += ["--regularize", regularize]
    if units:
        args += ["--units", units]
    if bounds is not None:
        args.append("--bounds=" + ",".join(repr(float(v)) for v in bounds))
    if ensemble > 1:
        args += ["--ensemble", str(int(ensemble))]
    if band not in (None, ""):
        args += ["--band", str(band).strip()]
    if nodata is not None:
        args += ["--nodata", repr(float(nodata))]
    return args + list(extra or [])


def _pump(stream, out: queue.Queue) -> None:
    """Put the stream's pieces, split at ``\\r`` and ``\\n`` (tqdm redraws with ``\\r``), into ``out``."""
    buffer = ""
    while True:
        chunk = stream.read1(4096) if hasattr(stream, "read1") else stream.read(4096)
        if not chunk:
            break
        buffer += chunk.decode("utf-8", "replace")
        pieces = re.split(r"[\r\n]", buffer)
        buffer = pieces.pop()
        for piece in pieces:
            out.put(piece)
    if buffer:
        out.put(buffer)
    out.put(None)


def run(executable: str, args: list[str], progress: Callable[[float], None] | None = None,
        log: Callable[[str], None] | None = None, canceled: Callable[[], bool] | None = None,
        env: dict | None = None) -> str:
    """Run ``executable args``; return its stdout. Raise MicroflowFailed (its last ``error`` line) on a
    non-zero exit, InterruptedError when ``canceled()`` turned true (the process is stopped)."""
    proc = subprocess.Popen([executable, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, **(env or {})})
    lines: queue.Queue = queue.Queue()
    stdout: list[bytes] = []
    readers = [threading.Thread(target=_pump, args=(proc.stderr, lines), daemon=True),
               threading.Thread(target=lambda: stdout.append(proc.stdout.read()), daemon=True)]
    for reader in readers:
        reader.start()
    errors, last = [], ""
    done = False
    while not done:
        if canceled is not None and canceled():
            _stop(proc)
            raise InterruptedError("microflow was cancelled")
        try:
            piece = lines.get(timeout=POLL_S)
        except queue.Empty:
            continue
        if piece is None:
            done = True
            continue
        match = PERCENT.search(piece)
        if match:
            if progress is not None:
                progress(min(100.0, float(match.group(1))))
            continue
        if piece.strip():
            last = piece.strip()
            if "error" in piece.lower():
                errors.append(last)
            if log is not None:
                log(last)
    rc = proc.wait()
    for reader in readers:
        reader.join(timeout=5)
    if rc != 0:
        raise MicroflowFailed(errors[-1] if errors else (last or f"microflow exited with status {rc}"))
    return b"".join(stdout).decode("utf-8", "replace")


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    deadline = time.monotonic() + TERMINATE_GRACE_S
    while proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    if proc.poll() is None:
        proc.kill()
        proc.wait()
