"""A stand-in `isabelle` executable for tests of discovery, supervision and the CLI.

`isabelle server` starts the replaying stand-in server and, like the real one, a helper process in a
session of its own (the real server's `poly` processes); `version` and `getenv` answer like Isabelle;
`build` is tests/fake_build.py. Which recorded reply a theory gets is chosen by a marker in its text (test
data only). FAKE_ISABELLE_RECEIVED=FILE appends every command the server receives as a JSON line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

WRAPPER = """#!{python}
import sys
sys.path.insert(0, {repo!r})
from tests.fake_isabelle import main
sys.exit(main(sys.argv[1:]))
"""


def install(home: Path) -> Path:
    """Create an installation folder whose bin/isabelle is this stand-in; returns the home folder."""
    (home / "bin").mkdir(parents=True, exist_ok=True)
    exe = home / "bin" / "isabelle"
    exe.write_text(WRAPPER.format(python=sys.executable, repo=str(REPO)))
    exe.chmod(0o755)
    heaps = home / "heaps" / "polyml-5.9_x86_64_32-linux"
    heaps.mkdir(parents=True, exist_ok=True)
    for session in ("Pure", "HOL"):
        (heaps / session).write_bytes(b"heap")
    return home


def choose_by_marker(theory: str) -> str:
    path = Path(theory if theory.endswith(".thy") else theory + ".thy")
    text = path.read_text() if path.is_file() else ""
    if "sledgehammer" in text:
        return "use_theories.Sledgehammer"
    if "(* standin: fails *)" in text:
        return "use_theories.Fail"
    return "use_theories"


def main(argv: list[str]) -> int:
    exe_home = Path(sys.argv[0]).resolve().parent.parent
    if not argv:
        print("Usage: isabelle TOOL [ARGS ...]", file=sys.stderr)
        return 2
    tool, args = argv[0], argv[1:]
    if tool == "version":
        print(os.environ.get("FAKE_ISABELLE_VERSION", "Isabelle2025"))
        return 0
    if tool == "getenv":
        values = {
            "ISABELLE_HEAPS": str(exe_home / "heaps"),
            "ISABELLE_HEAPS_SYSTEM": str(exe_home / "heaps_system"),
            "ML_IDENTIFIER": "polyml-5.9_x86_64_32-linux",
        }
        for name in [a for a in args if not a.startswith("-")]:
            print(values.get(name, ""))
        return 0
    if tool == "server":
        return serve(args)
    if tool == "build":
        from tests.fake_build import build

        ml_id = "polyml-5.9_x86_64_32-linux"
        return build(args, exe_home, exe_home / "heaps", exe_home / "heaps_system", ml_id)
    print(f"Unknown Isabelle tool: {tool}", file=sys.stderr)
    return 2


def serve(args: list[str]) -> int:
    from tests.isabelle_standin import Behaviour, IsabelleStandin

    name = args[args.index("-n") + 1] if "-n" in args else "isabelle"
    registry = Path(sys.argv[0]).resolve().parent.parent / "servers.json"
    known = json.loads(registry.read_text()) if registry.is_file() else {}
    if "-s" in args:  # an existing server only: print its banner, start nothing
        if name not in known:
            print(f"*** Isabelle server {name!r} not running", file=sys.stderr)
            return 1
        print(known[name])
        return 0
    if os.environ.get("FAKE_ISABELLE_SERVER_FAILS"):
        print("*** Cannot start server: simulated failure", flush=True)
        return 1
    options = json.loads(os.environ.get("FAKE_ISABELLE_BEHAVIOUR", "{}"))
    behaviour = Behaviour(rename_theories=True, choose_transcript=choose_by_marker, **options)
    transcripts = Path(os.environ["SUBGOALXL_TRANSCRIPTS"])
    # like the real server's poly processes: a helper in a session (and process group) of its own
    helper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"], start_new_session=True)
    pid_file = os.environ.get("FAKE_ISABELLE_PID_FILE")
    if pid_file:
        Path(pid_file).write_text(json.dumps({"server": os.getpid(), "helper": helper.pid}))
    server = IsabelleStandin(transcripts, behaviour)
    received = os.environ.get("FAKE_ISABELLE_RECEIVED")
    if received:
        handle = server._handle

        def logged(conn, lock, command, argument):  # noqa: ANN001, ANN202 - the stand-in's own signature
            with open(received, "a") as log:
                log.write(json.dumps([command, argument]) + "\n")
            return handle(conn, lock, command, argument)

        server._handle = logged  # type: ignore[method-assign]
    server.start()
    print("Starting server ...", flush=True)
    time.sleep(float(os.environ.get("FAKE_ISABELLE_STARTUP_DELAY", "0")))
    registry.write_text(json.dumps({**known, name: server.banner(name)}))
    print(server.banner(name), flush=True)
    while not server._stop.is_set():
        time.sleep(0.05)
    helper.terminate()
    helper.wait()
    return 0
