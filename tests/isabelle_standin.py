"""A stand-in `isabelle server` for tests: the real wire protocol, replaying real recorded replies.

Replies come byte for byte from ../shared/isabelle-transcripts. Only two things are ever substituted, and
always by strings of the same length so the recorded length headers stay valid: task ids (fresh per
command, so concurrent tasks can be told apart) and session ids (fresh per session_start). A reply for a
theory set it never saw (`rename_theories`) is assembled from recorded nodes and re-framed.

With `rename_theories`, a node may also be assembled from recorded messages placed at given lines (a
`NodeReply`, e.g. a failing step's error at the line of that step), and every `thm_oracles NAME` command of a
theory gets the message a real kernel prints for it (`real-kernel/use_theories.jsonl`, theory `Oracles`):
`skip_proof` when the theory uses `sorry`, `holds_by_evaluation` when it uses `by eval`.

Fault modes a client must survive: split reads, coalesced replies, interleaved tasks, a wrong password,
a server that closes mid-message, one that never answers, a check that hangs until cancelled.
"""

from __future__ import annotations

import contextlib
import json
import random
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: what `choose_transcript` returns for a theory whose check never finishes (until cancelled)
HANG = "<hang>"

#: Pure/thm_deps.ML `pretty_thm_oracles`: `Pretty.big_list "oracles:"`, one item per oracle
_ORACLES_OF = {"sorry": "skip_proof", "\\<proof>": "skip_proof", "eval": "holds_by_evaluation"}

_TASK = re.compile(rb'"task":"([0-9a-f-]{36})"')
_SESSION = re.compile(rb'"session_id":"([0-9a-f-]{36})"')


def frame(body: bytes) -> bytes:
    """Isabelle's framing, written independently of the client's."""
    if len(body) > 100 or b"\n" in body:
        return str(len(body) + 1).encode() + b"\n" + body + b"\n"
    return body + b"\n"


def recorded_stream(data: bytes) -> bytes:
    """The bytes a server sent. One recording (use_theories.Sledgehammer) lost its final newline, which its
    last length header counts (2057 announced, 2056 stored); a real server always ends a message with it."""
    return data if data.endswith(b"\n") else data + b"\n"


def split_transcript(data: bytes) -> list[bytes]:
    """Cut a recorded reply into its raw framed messages (header included), blank lines kept as-is."""
    data = recorded_stream(data)
    raw: list[bytes] = []
    pos = 0
    while pos < len(data):
        end = data.index(b"\n", pos) + 1
        line = data[pos:end]
        if line.strip().isdigit():
            end += int(line)
        raw.append(data[pos:end])
        pos = end
    return raw


@dataclass
class NodeReply:
    """A node made of recorded messages: `messages` are (kind, line, text) at lines of the requested theory;
    the node's status and `errors` follow from them, the rest of the node from the `base` transcript."""

    messages: list[tuple[str, int, str]]
    base: str = "use_theories"


def real_kernel_replies(transcripts: Path) -> dict[str, dict[str, Any]]:
    """The real kernel's `use_theories` replies, by theory name (real-kernel/use_theories.jsonl)."""
    path = transcripts / "real-kernel" / "use_theories.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return {row["theory"]: row["reply"] for row in rows}


def recorded_message(transcripts: Path, theory: str, startswith: str) -> str:
    """The text of the first message of a recorded real-kernel theory that starts with `startswith`."""
    node = real_kernel_replies(transcripts)[theory]["nodes"][0]
    return next(m["message"] for m in node["messages"] if m["message"].startswith(startswith))


def _oracle_messages(text: str) -> list[tuple[str, int, str]]:
    """What `thm_oracles` prints on each of its lines: the oracles the theory's proofs used (all of them:
    a stand-in does not track which theorem depends on which step)."""
    words = re.findall(r"\\<proof>|\bsorry\b|\bby\s+eval\b", text)
    used = sorted({_ORACLES_OF["eval" if w.startswith("by") else w] for w in words})
    body = "oracles:" + "".join(f"\n  {name}" for name in used)
    return [("writeln", k, body) for k, line in enumerate(text.splitlines(), 1) if line.startswith("thm_oracles ")]


def body_of(raw: bytes) -> bytes:
    head, _, rest = raw.partition(b"\n")
    return rest.rstrip(b"\n") if head.strip().isdigit() else head


@dataclass
class Behaviour:
    password: str = field(default_factory=lambda: str(uuid.uuid4()))
    chunking: str = "whole"  # whole | bytewise | random | coalesce
    note_delay: float = 0.0
    close_mid_message_on: frozenset[str] = frozenset()
    never_answer: frozenset[str] = frozenset()
    hang_use_theories: bool = False  # OK + task id, then nothing until cancelled
    ignore_cancel: bool = False
    rename_theories: bool = False
    # chooses a transcript for each requested theory: "use_theories", "use_theories.Fail", ..., HANG, or (with
    # rename_theories) a NodeReply of recorded messages at given lines
    choose_transcript: Callable[[str], str | NodeReply] = lambda theory: "use_theories"
    isabelle_name: str = "Isabelle2025"


class IsabelleStandin:
    def __init__(self, transcripts: Path, behaviour: Behaviour | None = None):
        self.transcripts = transcripts
        self.behaviour = behaviour or Behaviour()
        self.received: list[tuple[str, Any]] = []
        self.connections = 0
        self.sessions: set[str] = set()
        self._cancelled: set[str] = set()
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))  # loopback only, port from the OS
        self._listener.listen(16)
        self.port = self._listener.getsockname()[1]
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self._hang_next = False

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> IsabelleStandin:
        thread = threading.Thread(target=self._accept_loop, daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def stop(self) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes a blocked accept(); close() alone does not
        self._listener.close()
        with self._lock:
            for conn in self._conns:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
                conn.close()
        for thread in self._threads:
            thread.join(timeout=2)

    def __enter__(self) -> IsabelleStandin:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def banner(self, name: str = "standin") -> str:
        return f'server "{name}" = 127.0.0.1:{self.port} (password "{self.behaviour.password}")'

    def transcript(self, name: str) -> list[bytes]:
        return split_transcript((self.transcripts / name).read_bytes())

    # ------------------------------------------------------------------ connection handling
    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self._conns.append(conn)
                self.connections += 1
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _serve(self, conn: socket.socket) -> None:
        reader = conn.makefile("rb")
        write_lock = threading.Lock()
        try:
            password = reader.readline().rstrip(b"\r\n").decode()
            if password != self.behaviour.password:
                return  # the real server just drops the connection
            hello = {"isabelle_id": "standin", "isabelle_name": self.behaviour.isabelle_name}
            self._send(conn, write_lock, [frame(b"OK " + json.dumps(hello).encode())])
            while not self._stop.is_set():
                line = reader.readline()
                if not line:
                    return
                body = line.rstrip(b"\r\n")
                if body.strip().isdigit():
                    body = reader.read(int(body)).rstrip(b"\r\n")
                if not body:
                    continue
                name, _, arg = body.decode().partition(" ")
                argument = json.loads(arg) if arg.strip() else None
                self.received.append((name, argument))
                if not self._handle(conn, write_lock, name, argument):
                    return
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                conn.close()

    def _send(self, conn: socket.socket, lock: threading.Lock, messages: list[bytes]) -> None:
        mode = self.behaviour.chunking
        with lock:
            if mode == "coalesce":
                conn.sendall(b"".join(messages))
                return
            for data in messages:
                if mode == "whole":
                    conn.sendall(data)
                elif mode == "bytewise":
                    for i in range(len(data)):
                        conn.sendall(data[i : i + 1])
                        if i % 16 == 0:
                            time.sleep(0.0002)
                else:  # random cuts
                    pos = 0
                    while pos < len(data):
                        step = random.randint(1, 40)
                        conn.sendall(data[pos : pos + step])
                        pos += step
                        time.sleep(0.0001)

    def _handle(self, conn: socket.socket, lock: threading.Lock, name: str, argument: Any) -> bool:
        b = self.behaviour
        if name in b.never_answer:
            return True
        if name in b.close_mid_message_on:
            reply = b"".join(self._reply_for(name, argument))
            conn.sendall(reply[: max(1, len(reply) // 2)])
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            return False
        if name == "echo":
            self._send(conn, lock, [frame(b"OK " + json.dumps(argument).encode())])
            return True
        if name == "cancel":
            self._cancelled.add(argument["task"])
            self._send(conn, lock, self.transcript("cancel"))
            return True
        if name == "shutdown":
            self._send(conn, lock, self.transcript("shutdown"))
            threading.Thread(target=self.stop, daemon=True).start()
            return False
        if name in ("help", "purge_theories"):
            self._send(conn, lock, self.transcript(name))
            return True
        if name not in ("session_build", "session_start", "session_stop", "use_theories"):
            reply = self.transcript("unknown")
            if name != "unknown":
                reply = [frame(b"ERROR " + json.dumps(f"Bad command '{name}'").encode())]
            self._send(conn, lock, reply)
            return True
        self._hang_next = name == "use_theories" and b.hang_use_theories
        messages = self._reply_for(name, argument)
        hang, self._hang_next = self._hang_next, False
        if b.chunking == "coalesce":
            self._send(conn, lock, messages)
            return True
        self._send(conn, lock, messages[:1])
        task_id = _TASK.search(messages[0]).group(1).decode()  # type: ignore[union-attr]
        worker = threading.Thread(target=self._play, args=(conn, lock, name, task_id, messages[1:], hang), daemon=True)
        worker.start()
        self._threads.append(worker)
        return True

    def _play(
        self, conn: socket.socket, lock: threading.Lock, name: str, task_id: str, rest: list[bytes], hang: bool
    ) -> None:
        try:
            for raw in rest:
                if self._interrupted(task_id):
                    break
                time.sleep(self.behaviour.note_delay)
                if hang and raw.lstrip(b"0123456789\n").startswith(b"FINISHED"):
                    while not self._interrupted(task_id) and not self._stop.is_set():
                        time.sleep(0.01)
                    break
                self._send(conn, lock, [raw])
            if self._interrupted(task_id):
                failed = {"kind": "error", "message": "Interrupt", "task": task_id}
                self._send(conn, lock, [frame(b"FAILED " + json.dumps(failed).encode())])
        except OSError:
            pass

    def _interrupted(self, task_id: str) -> bool:
        return task_id in self._cancelled and not self.behaviour.ignore_cancel

    def _reply_for(self, name: str, argument: Any) -> list[bytes]:
        if name == "use_theories":
            theories = list(argument.get("theories", []))
            if self.behaviour.rename_theories:
                messages = self._assembled_use_theories(theories, argument.get("master_dir"))
            else:
                messages = self.transcript(self.behaviour.choose_transcript(theories[0] if theories else ""))
        else:
            messages = self.transcript(name)
        fresh_task = str(uuid.uuid4()).encode()
        messages = [_TASK.sub(b'"task":"' + fresh_task + b'"', m) for m in messages]
        if name == "session_start":
            session = str(uuid.uuid4())
            self.sessions.add(session)
            messages = [_SESSION.sub(b'"session_id":"' + session.encode() + b'"', m) for m in messages]
        return messages

    def _assembled_use_theories(self, theories: list[str], master_dir: str | None) -> list[bytes]:
        """One recorded node per requested theory (chosen by `choose_transcript`), renamed and re-framed."""
        base = self.transcript("use_theories")
        nodes, errors = [], []
        for theory in theories:
            choice = self.behaviour.choose_transcript(theory)
            if choice == HANG:
                self._hang_next = True
                choice = "use_theories"
            path = Path(theory if theory.endswith(".thy") else theory + ".thy")
            if master_dir and not path.is_absolute():
                path = Path(master_dir) / path
            text = path.read_text() if path.is_file() else ""
            if isinstance(choice, NodeReply):
                node = self._recorded_node(choice.base)
                node["messages"] = [_message(kind, line, body) for kind, line, body in choice.messages]
            else:
                node = self._recorded_node(choice)
            node["messages"] += [_message(*m) for m in _oracle_messages(text)]
            failed = sum(m["kind"] == "error" for m in node["messages"])
            if isinstance(choice, NodeReply):
                node["status"].update(ok=not failed, failed=failed)
            node["node_name"] = str(path)
            node["theory_name"] = "Draft." + path.stem
            for message in node["messages"]:
                message["pos"]["file"] = str(path)
            nodes.append(node)
            errors += [m for m in node["messages"] if m["kind"] == "error"]
        payload = {"ok": not errors, "errors": errors, "nodes": nodes, "task": "0" * 36}
        return base[:-1] + [frame(b"FINISHED " + json.dumps(payload, separators=(",", ":")).encode())]

    def _recorded_node(self, transcript: str) -> dict[str, Any]:
        finished = json.loads(body_of(self.transcript(transcript)[-1]).partition(b" ")[2])
        return finished["nodes"][0]


def _message(kind: str, line: int, text: str) -> dict[str, Any]:
    return {"kind": kind, "message": text, "pos": {"line": line, "offset": 1, "end_offset": 2, "id": None}}
