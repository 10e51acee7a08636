"""`isabelle build` for the stand-in launchers (tests/install_release.py, tests/fake_isabelle.py).

It does what the documented tool does with session names and directories, and nothing else (test data only):
sessions are the distribution's plus those defined in ROOT files of `-d DIR` folders and of the folders listed
in HOME/ROOTS (src/Doc/System/Sessions.thy: ROOT and ROOTS catalogs); an undefined one fails as
src/Pure/Thy/sessions.scala `check_sessions` does (`Undefined session(s): "X"`), and so does a ROOT whose parent
or `sessions` entries are undefined. `-b` writes a heap file per selected session and its ancestors, into
$ISABELLE_HEAPS_SYSTEM with `-o system_heaps`, else $ISABELLE_HEAPS. Knobs: FAKE_BUILD_FAIL=SESSION fails that
session, FAKE_BUILD_SLEEP=SECONDS hangs (with a helper in its own session), FAKE_BUILD_PIDS=FILE records pids,
FAKE_BUILD_ARGS=FILE appends the argument list as one JSON line.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

#: distribution sessions and their parents (src/HOL/ROOT)
DISTRIBUTION = {
    "Pure": None,
    "HOL": "Pure",
    "HOL-Library": "HOL",
    "HOL-Computational_Algebra": "HOL-Library",
    "HOL-Number_Theory": "HOL-Computational_Algebra",
    "HOL-Analysis": "HOL",
    "HOL-Algebra": "HOL-Computational_Algebra",
    "HOL-Combinatorics": "HOL",
}

_ENTRY = re.compile(r'\bsession\s+"?([\w-]+)"?\s*(?:\([^)]*\)\s*)?(?:in\s+"?[^\s"]+"?\s*)?=\s*"?([\w-]+)"?\s*\+')
_KEYWORDS = {"theories", "description", "options", "directories", "document_files", "export_files", "session"}


def _comments_out(text: str) -> str:
    return re.sub(r"\(\*.*?\*\)", " ", text, flags=re.S)


def parse_root(text: str) -> dict[str, tuple[str, list[str]]]:
    """session name -> (parent, imported sessions) for every entry of a ROOT file."""
    text = _comments_out(text)
    found = {}
    matches = list(_ENTRY.finditer(text))
    for i, match in enumerate(matches):
        body = text[match.end() : matches[i + 1].start() if i + 1 < len(matches) else len(text)]
        words = re.findall(r'"[^"]*"|\S+', body)
        imported: list[str] = []
        if "sessions" in words:
            for word in words[words.index("sessions") + 1 :]:
                if word.strip('"') in _KEYWORDS:
                    break
                imported.append(word.strip('"'))
        found[match.group(1)] = (match.group(2), imported)
    return found


def sessions_in(folder: Path, seen: set[Path] | None = None) -> dict[str, tuple[str, list[str]]]:
    seen = set() if seen is None else seen
    folder = folder.resolve()
    if folder in seen or not folder.is_dir():
        return {}
    seen.add(folder)
    found = {}
    if (folder / "ROOT").is_file():
        found.update(parse_root((folder / "ROOT").read_text()))
    if (folder / "ROOTS").is_file():
        for line in (folder / "ROOTS").read_text().splitlines():
            if line.strip() and not line.startswith("#"):
                found.update(sessions_in(folder / line.strip(), seen))
    return found


def build(args: list[str], home: Path, user_heaps: Path, system_heaps: Path, ml_id: str) -> int:
    if os.environ.get("FAKE_BUILD_ARGS"):
        with open(os.environ["FAKE_BUILD_ARGS"], "a") as log:
            log.write(json.dumps(args) + "\n")
    sessions, dirs, options, i = [], [], [], 0
    while i < len(args):
        arg = args[i]
        if arg in ("-d", "-o", "-j"):
            (dirs if arg == "-d" else options if arg == "-o" else []).append(args[i + 1])
            i += 2
            continue
        if not arg.startswith("-"):
            sessions.append(arg)
        i += 1
    defined: dict[str, tuple[str | None, list[str]]] = {k: (v, []) for k, v in DISTRIBUTION.items()}
    seen: set[Path] = set()
    for folder in [home, *map(Path, dirs)]:
        defined.update(sessions_in(folder, seen))
    wanted: list[str] = []
    todo = list(sessions)
    while todo:
        name = todo.pop()
        if name not in defined:
            print(f'*** Undefined session(s): "{name}"', flush=True)
            return 1
        parent, imported = defined[name]
        for other in imported:
            if other not in defined:
                print(f'*** Undefined session(s): "{other}"', flush=True)
                return 1
        if name not in wanted:
            wanted.append(name)
            if parent:
                todo.append(parent)
    heaps = (system_heaps if "system_heaps" in options else user_heaps) / ml_id
    heaps.mkdir(parents=True, exist_ok=True)
    print("Building " + ", ".join(sessions) + " ...", flush=True)
    if os.environ.get("FAKE_BUILD_SLEEP"):
        helper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"], start_new_session=True)
        if os.environ.get("FAKE_BUILD_PIDS"):
            Path(os.environ["FAKE_BUILD_PIDS"]).write_text(f"{os.getpid()} {helper.pid}")
        time.sleep(float(os.environ["FAKE_BUILD_SLEEP"]))
    for name in reversed(wanted):  # ancestors first
        inputs = [system_heaps] if "system_heaps" in options else [user_heaps, system_heaps]
        if any((folder / ml_id / name).exists() for folder in inputs):
            continue
        print(f"Running {name} ...", flush=True)
        if os.environ.get("FAKE_BUILD_FAIL") == name:
            print(f'{name} FAILED (see also "isabelle build_log -H Error {name}")', flush=True)
            print("*** Out of memory (simulated)", flush=True)
            return 1
        (heaps / name).write_bytes(b"heap")
        print(f"Finished {name} (0:00:01 elapsed time)", flush=True)
    return 0
