"""Nothing of a driver's local Ray outlives the driver, not even after `kill -9`; nor does its session folder.

`start(marker)` runs this file as a small process in its own session, holding the read end of a pipe whose
write end only the driver has: when the driver ends, however it ends, the pipe reads EOF. Every process started
after the driver set `SUBGOALXL_RAY_DRIVER=marker` in its environment (Ray's GCS, raylet, agents, workers, and
what they started, such as Isabelle) carries the marker; the reaper stops them (SIGTERM, then SIGKILL) and
removes the Ray session folders the driver announced (`announce(path)`), which Ray itself never deletes.

Run as a script (not `-m`): it needs only psutil and the standard library.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

MARKER_ENV = "SUBGOALXL_RAY_DRIVER"
GRACE_S = 3.0

_pipe: int | None = None  # the driver's write end, open for the driver's lifetime


def start(marker: str) -> subprocess.Popen[bytes]:
    """Start the reaper for this driver (whose environment holds `MARKER_ENV=marker`)."""
    global _pipe
    read_end, _pipe = os.pipe()
    try:
        return subprocess.Popen(
            [sys.executable, "-u", __file__, marker],
            stdin=read_end,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C and a signal to the driver's group do not reach it
            env={k: v for k, v in os.environ.items() if k != MARKER_ENV},
        )
    finally:
        os.close(read_end)


def announce(session_dir: str) -> None:
    """Tell the reaper a Ray session folder to remove once the driver is gone."""
    if _pipe is not None:
        os.write(_pipe, f"session {session_dir}\n".encode())


def _marked(marker: str) -> list:  # list[psutil.Process]
    import psutil

    found = []
    for process in psutil.process_iter():
        try:
            if process.pid != os.getpid() and process.environ().get(MARKER_ENV) == marker:
                found.append(process)
        except psutil.Error:
            pass
    return found


def reap(marker: str, sessions: list[str]) -> None:
    import psutil

    processes = _marked(marker)
    for process in processes:
        with contextlib.suppress(psutil.Error):
            process.terminate()
    _, alive = psutil.wait_procs(processes, timeout=GRACE_S)
    for process in alive + _marked(marker):  # and whatever was started meanwhile
        with contextlib.suppress(psutil.Error):
            process.kill()
    for folder in sessions:
        path = Path(folder)
        shutil.rmtree(path, ignore_errors=True)
        latest = path.parent / "session_latest"
        try:
            if latest.is_symlink() and Path(os.readlink(latest)) == path:
                latest.unlink()
        except OSError:
            pass


def main(marker: str) -> None:
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)  # its life ends with the driver's (EOF), not with a stray signal
    sessions: list[str] = []
    buffer = b""
    while chunk := os.read(0, 4096):
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            kind, _, value = line.decode(errors="replace").partition(" ")
            if kind == "session" and value:
                sessions.append(value)
    time.sleep(0.5)  # a driver that exited cleanly has just shut Ray down: let it finish
    reap(marker, sessions)


if __name__ == "__main__":
    main(sys.argv[1])
