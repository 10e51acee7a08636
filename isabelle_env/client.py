"""Client of the `isabelle server` protocol: one persistent connection, safe from threads and asyncio.

A background reader thread owns the socket's receive side. Synchronous replies (OK/ERROR) are matched to
commands in the order they were sent; asynchronous messages (NOTE/FINISHED/FAILED) are routed by task id.
Nothing here blocks an event loop it does not own: the `*_async` methods await futures, and the blocking
methods work in plain threads, Jupyter and Ray actors alike (no ``asyncio.run`` anywhere).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import queue
import socket
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from isabelle_env.address import ServerAddress
from isabelle_env.errors import (
    IsabelleCommandError,
    IsabelleConnectionError,
    IsabelleError,
    IsabelleProtocolError,
    IsabelleTaskFailedError,
    IsabelleTimeoutError,
)
from isabelle_env.protocol import (
    PurgeResult,
    Reply,
    ReplyKind,
    SessionBuildResult,
    SessionInfo,
    UseTheoriesResult,
    encode_command,
    parse_reply,
)
from isabelle_env.wire import FramingError, MessageDecoder, encode_message

log = logging.getLogger(__name__)

NoteCallback = Callable[[dict[str, Any]], None]
_END_OF_NOTES = object()


class Task:
    """An asynchronous server task: stream its NOTEs, wait for FINISHED, or cancel it."""

    def __init__(self, client: IsabelleClient, command: str, on_note: NoteCallback | None):
        self.client = client
        self.command = command
        self.id: str = ""
        self._on_note = on_note
        self._notes: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._outcome: Future[Any] = Future()

    def __repr__(self) -> str:
        state = "done" if self.done() else "running"
        return f"<Task {self.command} {self.id or '?'} {state}>"

    # -- called by the reader thread
    def _note(self, payload: dict[str, Any]) -> None:
        self._notes.put(payload)
        if self._on_note is not None:
            try:
                self._on_note(payload)
            except Exception:  # a progress callback must never take the connection down
                log.exception("note callback of %s raised", self)

    def _finish(self, reply: Reply) -> None:
        if reply.kind is ReplyKind.FINISHED:
            payload = reply.payload
            if isinstance(payload, dict):  # the task id routed the reply; it is not part of the result
                payload = {k: v for k, v in payload.items() if k != "task"}
            self._outcome.set_result(payload)
        else:
            self._outcome.set_exception(IsabelleTaskFailedError(self.command, reply.payload))
        self._notes.put(_END_OF_NOTES)

    def _abort(self, error: BaseException) -> None:
        if not self._outcome.done():
            self._outcome.set_exception(error)
        self._notes.put(_END_OF_NOTES)

    # -- public
    def done(self) -> bool:
        return self._outcome.done()

    def notes(self, timeout: float | None = None) -> Iterator[dict[str, Any]]:
        """Yield NOTE payloads as they arrive until the task ends; `timeout` bounds each wait."""
        while True:
            try:
                item = self._notes.get(timeout=timeout)
            except queue.Empty:
                raise IsabelleTimeoutError(f"no message for task {self.command} within {timeout}s") from None
            if item is _END_OF_NOTES:
                return
            yield item

    def result(self, timeout: float | None = None) -> Any:
        """The FINISHED payload; raises IsabelleTaskFailedError on FAILED, IsabelleTimeoutError on timeout."""
        try:
            return self._outcome.result(timeout)
        except FutureTimeout:
            raise IsabelleTimeoutError(
                f"Isabelle task {self.command} ({self.id}) did not finish within {timeout}s"
            ) from None

    async def result_async(self, timeout: float | None = None) -> Any:
        try:
            return await asyncio.wait_for(asyncio.wrap_future(self._outcome), timeout)
        except TimeoutError:
            raise IsabelleTimeoutError(
                f"Isabelle task {self.command} ({self.id}) did not finish within {timeout}s"
            ) from None

    def cancel(self) -> None:
        """Ask the server to interrupt the task; it then ends with FAILED (or FINISHED if it was done)."""
        if self.id and not self.done():
            self.client.cancel(self.id)


@dataclass
class _Pending:
    command: str
    future: Future[Any]
    task: Task | None  # set for asynchronous commands


class IsabelleClient:
    """One connection to an `isabelle server`. Use as a context manager, or call close()."""

    def __init__(
        self,
        address: ServerAddress,
        *,
        connect_timeout: float = 10.0,
        command_timeout: float = 60.0,
        on_untargeted_note: NoteCallback | None = None,
    ):
        self.address = address
        self.command_timeout = command_timeout
        self._on_untargeted_note = on_untargeted_note
        self._send_lock = threading.Lock()
        self._state_lock = threading.Lock()
        self._pending: collections.deque[_Pending] = collections.deque()
        self._tasks: dict[str, Task] = {}
        self._decoder = MessageDecoder()
        self._closed_reason: str | None = None
        self._sock = self._open(connect_timeout)
        self._reader = threading.Thread(target=self._read_loop, name=f"isabelle-client-{address}", daemon=True)
        self._reader.start()

    # ------------------------------------------------------------------ connection
    def _open(self, timeout: float) -> socket.socket:
        try:
            sock = socket.create_connection((self.address.host, self.address.port), timeout=timeout)
        except OSError as exc:
            raise IsabelleConnectionError(
                f"cannot connect to the Isabelle server at {self.address}: {exc.strerror or exc}. "
                "Is it running? Start one with `isabelle server` or let subgoalxl start it (omit --isabelle-server)"
            ) from None
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            sock.sendall(encode_message(self.address.password))
            reply = self._read_handshake(sock)
        except (OSError, IsabelleError) as exc:
            sock.close()
            if isinstance(exc, TimeoutError | socket.timeout):
                raise IsabelleTimeoutError(
                    f"the Isabelle server at {self.address} did not answer the password within {timeout}s"
                ) from None
            if isinstance(exc, IsabelleError):
                raise
            raise IsabelleConnectionError(f"connection to {self.address} failed during handshake: {exc}") from None
        if reply.kind is not ReplyKind.OK:
            sock.close()
            raise IsabelleConnectionError(f"the Isabelle server at {self.address} refused the connection: {reply}")
        self.server_info: dict[str, Any] = reply.payload if isinstance(reply.payload, dict) else {}
        sock.settimeout(None)
        return sock

    def _read_handshake(self, sock: socket.socket) -> Reply:
        """An Isabelle server answers the password with one `OK {...}` line, or drops the connection
        (Isabelle's `src/Pure/Tools/server.scala`); anything else is some other kind of server."""
        received = bytearray()
        while True:
            data = sock.recv(65536)
            if not data:
                if received.strip():
                    raise self._not_isabelle(received)
                raise IsabelleConnectionError(
                    f"the Isabelle server at {self.address} closed the connection after the password: "
                    "the password is wrong (pass the one printed by `isabelle server`)"
                )
            received += data[: max(0, 4096 - len(received))]
            try:
                messages = [m for m in self._decoder.feed(data) if m.strip()]
            except FramingError:
                raise self._not_isabelle(received) from None
            if messages:
                if messages[0].split(b" ", 1)[0] not in (b"OK", b"ERROR"):
                    raise self._not_isabelle(received)
                if len(messages) > 1:
                    raise IsabelleProtocolError(
                        f"the Isabelle server at {self.address} sent more than one reply to the password: "
                        f"{_shown(received)}"
                    )
                return parse_reply(messages[0])

    def _not_isabelle(self, received: bytes) -> IsabelleConnectionError:
        return IsabelleConnectionError(
            f"{self.address} is not an Isabelle server: it answered the password with {_shown(received)} "
            "(an Isabelle server answers OK {...}); point --isabelle-server at the HOST:PORT that "
            "`isabelle server` printed"
        )

    @property
    def closed(self) -> bool:
        return self._closed_reason is not None

    @property
    def closed_reason(self) -> str | None:
        return self._closed_reason

    def close(self) -> None:
        with self._state_lock:
            already = self._closed_reason is not None
            if not already:
                self._closed_reason = "closed by the client"
        if not already:
            with contextlib.suppress(OSError):
                self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()
        if self._reader is not threading.current_thread():
            self._reader.join(timeout=5)
        self._fail_everything(IsabelleConnectionError(f"connection to {self.address} was closed by the client"))

    def __enter__(self) -> IsabelleClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        sock = getattr(self, "_sock", None)
        if sock is not None and self._closed_reason is None:
            sock.close()

    # ------------------------------------------------------------------ reader thread
    def _read_loop(self) -> None:
        reason = "the server closed the connection"
        try:
            while True:
                data = self._sock.recv(65536)
                if not data:
                    pending = self._decoder.pending
                    if pending:
                        reason = f"the server closed the connection in the middle of a message ({pending})"
                    break
                for message in self._decoder.feed(data):
                    if message.strip():  # blank lines carry nothing; recorded servers emit some
                        self._dispatch(parse_reply(message))
        except OSError as exc:
            reason = f"connection error: {exc}"
        except IsabelleError as exc:
            reason = str(exc)
        with self._state_lock:
            if self._closed_reason is None:
                self._closed_reason = reason
            reason = self._closed_reason
        self._fail_everything(IsabelleConnectionError(f"Isabelle server at {self.address}: {reason}"))

    def _fail_everything(self, error: IsabelleError) -> None:
        with self._state_lock:
            pending, self._pending = list(self._pending), collections.deque()
            tasks, self._tasks = list(self._tasks.values()), {}
        for item in pending:
            if not item.future.done():
                item.future.set_exception(error)
            if item.task is not None:
                item.task._abort(error)
        for task in tasks:
            task._abort(error)

    def _dispatch(self, reply: Reply) -> None:
        if reply.kind in (ReplyKind.OK, ReplyKind.ERROR):
            with self._state_lock:
                if not self._pending:
                    raise IsabelleProtocolError(f"unsolicited {reply.kind} reply: {reply.payload!r}")
                item = self._pending.popleft()
                if reply.kind is ReplyKind.OK and item.task is not None:
                    task_id = reply.task_id
                    if not task_id:
                        raise IsabelleProtocolError(f"{item.command} answered OK without a task id")
                    item.task.id = task_id
                    self._tasks[task_id] = item.task  # registered before any NOTE of it is read
            if reply.kind is ReplyKind.ERROR:
                item.future.set_exception(IsabelleCommandError(item.command, reply.payload))
                if item.task is not None:
                    item.task._abort(IsabelleCommandError(item.command, reply.payload))
            else:
                item.future.set_result(item.task if item.task is not None else reply.payload)
            return
        task_id = reply.task_id
        if reply.kind is ReplyKind.NOTE:
            with self._state_lock:
                task = self._tasks.get(task_id) if task_id else None
                targets = [task] if task else ([] if task_id else list(self._tasks.values()))
            if not task_id and self._on_untargeted_note is not None:
                self._on_untargeted_note(reply.payload)
            for target in targets:  # notes without a task id (nodes_status) go to every running task
                target._note(reply.payload)
            return
        with self._state_lock:  # FINISHED / FAILED
            task = self._tasks.pop(task_id, None) if task_id else None
        if task is None:
            log.warning("Isabelle server reported %s for unknown task %s", reply.kind, task_id)
            return
        task._finish(reply)

    # ------------------------------------------------------------------ sending
    def _submit(self, command: str, argument: Any, task: Task | None) -> Future[Any]:
        future: Future[Any] = Future()
        data = encode_message(encode_command(command, argument))
        with self._send_lock:
            if self._closed_reason is not None:
                raise IsabelleConnectionError(f"Isabelle server at {self.address}: {self._closed_reason}")
            with self._state_lock:
                self._pending.append(_Pending(command, future, task))
            try:
                self._sock.sendall(data)
            except OSError as exc:
                raise IsabelleConnectionError(f"cannot send {command!r} to {self.address}: {exc}") from None
        return future

    def _wait(self, command: str, future: Future[Any], timeout: float | None) -> Any:
        timeout = self.command_timeout if timeout is None else timeout
        try:
            return future.result(timeout)
        except FutureTimeout:
            raise IsabelleTimeoutError(
                f"the Isabelle server at {self.address} did not answer {command!r} within {timeout}s"
            ) from None

    def command(self, name: str, argument: Any = None, *, timeout: float | None = None) -> Any:
        """Send a synchronous command and return the argument of its OK reply."""
        return self._wait(name, self._submit(name, argument, None), timeout)

    async def command_async(self, name: str, argument: Any = None, *, timeout: float | None = None) -> Any:
        future = asyncio.wrap_future(self._submit(name, argument, None))
        try:
            return await asyncio.wait_for(future, self.command_timeout if timeout is None else timeout)
        except TimeoutError:
            raise IsabelleTimeoutError(f"no answer to {name!r} from {self.address}") from None

    def start_task(self, name: str, argument: Any = None, *, on_note: NoteCallback | None = None) -> Task:
        """Start an asynchronous command; the returned Task streams its NOTEs and ends with its result."""
        task = Task(self, name, on_note)
        return self._wait(name, self._submit(name, argument, task), None)

    async def start_task_async(self, name: str, argument: Any = None, *, on_note: NoteCallback | None = None) -> Task:
        task = Task(self, name, on_note)
        future = asyncio.wrap_future(self._submit(name, argument, task))
        try:
            return await asyncio.wait_for(future, self.command_timeout)
        except TimeoutError:
            raise IsabelleTimeoutError(f"no answer to {name!r} from {self.address}") from None

    def run_task(
        self,
        name: str,
        argument: Any = None,
        *,
        timeout: float | None = None,
        cancel_grace: float = 5.0,
        on_note: NoteCallback | None = None,
    ) -> Any:
        """Run an asynchronous command to its end. On timeout the task is cancelled before raising."""
        task = self.start_task(name, argument, on_note=on_note)
        try:
            return task.result(timeout)
        except IsabelleTimeoutError:
            self._cancel_quietly(task, cancel_grace)
            raise
        except BaseException:  # Ctrl-C while waiting: do not leave the task running on the server
            if not task.done():
                self._cancel_quietly(task, cancel_grace)
            raise

    def _cancel_quietly(self, task: Task, grace: float) -> None:
        try:
            task.cancel()
            task.result(grace)
        except IsabelleError:
            pass

    # ------------------------------------------------------------------ the commands of the manual
    def help(self) -> list[str]:
        return list(self.command("help"))

    def echo(self, value: Any) -> Any:
        return self.command("echo", value)

    def cancel(self, task_id: str) -> None:
        self.command("cancel", {"task": task_id})

    def shutdown(self) -> None:
        """Stop the whole server process (all its sessions)."""
        self.command("shutdown")

    def session_build(
        self,
        session: str,
        *,
        dirs: Sequence[str | Path] = (),
        options: Sequence[str] = (),
        include_sessions: Sequence[str] = (),
        timeout: float | None = None,
        on_note: NoteCallback | None = None,
    ) -> SessionBuildResult:
        args = _session_args(session, dirs, options, include_sessions)
        try:
            payload = self.run_task("session_build", args, timeout=timeout, on_note=on_note)
        except IsabelleTaskFailedError as exc:  # a failed build is a result, not a crash
            if isinstance(exc.payload, dict) and "sessions" in exc.payload:
                return SessionBuildResult.from_json(exc.payload)
            raise
        return SessionBuildResult.from_json(payload)

    def session_start(
        self,
        session: str = "HOL",
        *,
        dirs: Sequence[str | Path] = (),
        options: Sequence[str] = (),
        include_sessions: Sequence[str] = (),
        timeout: float | None = None,
        on_note: NoteCallback | None = None,
    ) -> SessionInfo:
        args = _session_args(session, dirs, options, include_sessions)
        return SessionInfo.from_json(self.run_task("session_start", args, timeout=timeout, on_note=on_note))

    def session_stop(self, session_id: str, *, timeout: float | None = None) -> dict[str, Any]:
        return dict(self.run_task("session_stop", {"session_id": session_id}, timeout=timeout) or {})

    def use_theories(
        self,
        session_id: str,
        theories: Sequence[str],
        *,
        master_dir: str | Path | None = None,
        timeout: float | None = None,
        cancel_grace: float = 5.0,
        unicode_symbols: bool = False,
        check_delay: float | None = None,
        watchdog_timeout: float | None = None,
        nodes_status_delay: float | None = None,
        on_note: NoteCallback | None = None,
    ) -> UseTheoriesResult:
        """Load and check theories (file names relative to master_dir, or absolute) in a running session."""
        args = _use_theories_args(
            session_id, theories, master_dir, unicode_symbols, check_delay, watchdog_timeout, nodes_status_delay
        )
        payload = self.run_task("use_theories", args, timeout=timeout, cancel_grace=cancel_grace, on_note=on_note)
        return UseTheoriesResult.from_json(payload)

    async def use_theories_async(
        self,
        session_id: str,
        theories: Sequence[str],
        *,
        master_dir: str | Path | None = None,
        timeout: float | None = None,
        on_note: NoteCallback | None = None,
    ) -> UseTheoriesResult:
        args = _use_theories_args(session_id, theories, master_dir, False, None, None, None)
        task = await self.start_task_async("use_theories", args, on_note=on_note)
        try:
            return UseTheoriesResult.from_json(await task.result_async(timeout))
        except IsabelleTimeoutError:
            await asyncio.to_thread(self._cancel_quietly, task, 5.0)
            raise

    def purge_theories(
        self,
        session_id: str,
        theories: Sequence[str] = (),
        *,
        master_dir: str | Path | None = None,
        purge_all: bool = False,
        timeout: float | None = None,
    ) -> PurgeResult:
        args: dict[str, Any] = {"session_id": session_id, "theories": list(theories), "all": purge_all}
        if master_dir is not None:
            args["master_dir"] = str(master_dir)
        return PurgeResult.from_json(self.command("purge_theories", args, timeout=timeout) or {})


def _session_args(
    session: str, dirs: Sequence[str | Path], options: Sequence[str], include_sessions: Sequence[str]
) -> dict[str, Any]:
    args: dict[str, Any] = {"session": session}
    if dirs:
        args["dirs"] = [str(d) for d in dirs]
    if options:
        args["options"] = list(options)
    if include_sessions:
        args["include_sessions"] = list(include_sessions)
    return args


def _use_theories_args(
    session_id: str,
    theories: Sequence[str],
    master_dir: str | Path | None,
    unicode_symbols: bool,
    check_delay: float | None,
    watchdog_timeout: float | None,
    nodes_status_delay: float | None,
) -> dict[str, Any]:
    if isinstance(theories, str):
        raise TypeError("theories must be a list of theory names, not one string")
    args: dict[str, Any] = {"session_id": session_id, "theories": list(theories)}
    if master_dir is not None:
        args["master_dir"] = str(master_dir)
    if unicode_symbols:
        args["unicode_symbols"] = True
    for key, value in (
        ("check_delay", check_delay),
        ("watchdog_timeout", watchdog_timeout),
        ("nodes_status_delay", nodes_status_delay),
    ):
        if value is not None:
            args[key] = value
    return args


def _shown(received: bytes, limit: int = 120) -> str:
    """What a peer sent, as a short quoted line for an error message."""
    text = bytes(received).decode("utf-8", errors="replace").strip()
    first = " | ".join(line.strip() for line in text.splitlines()[:3] if line.strip())
    return repr(first[:limit] + ("..." if len(first) > limit or len(text.splitlines()) > 3 else ""))
