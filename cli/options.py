"""Options, exit codes and helpers shared by the `subgoalxl` commands (kept apart from the app to avoid cycles)."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from isabelle_env.address import ServerAddress

IsabelleOpt = Annotated[
    str | None,
    typer.Option("--isabelle", help="Isabelle installation (folder with bin/isabelle); default: $ISABELLE_HOME, PATH"),
]
ServerOpt = Annotated[
    str | None,
    typer.Option(
        "--isabelle-server", help="use a running `isabelle server` (HOST:PORT, or its NAME) instead of starting one"
    ),
]
PasswordOpt = Annotated[
    str | None,
    typer.Option(
        "--password",
        envvar="SUBGOALXL_ISABELLE_PASSWORD",
        help="password of --isabelle-server (better: set SUBGOALXL_ISABELLE_PASSWORD)",
        show_default=False,
    ),
]
SessionOpt = Annotated[
    str | None,
    typer.Option(
        "--session",
        help="Isabelle session (logic) to check in; default: the smallest built one whose heap holds the imports",
        show_default=False,
    ),
]
SessionDirOpt = Annotated[
    list[Path] | None,
    typer.Option("--session-dir", help="a folder with the ROOT of --session (repeatable)", show_default=False),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON instead of text")]

EXIT_OK, EXIT_FAILED, EXIT_INFRA = 0, 1, 2
EXIT_INTERRUPTED, EXIT_TERMINATED = 130, 143  # Ctrl-C; SIGTERM (timeout, SLURM, Kubernetes): 128 + signal


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived: everything that cleans up after Ctrl-C runs for it too; the exit code is 143."""


_sigterm_received = False


def _on_sigterm(signum: int, frame: object) -> None:
    global _sigterm_received
    _sigterm_received = True
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # one clean stop: a second SIGTERM does not cut it short
    raise Terminated()


def sigterm_received() -> bool:
    """Whether this process was sent SIGTERM (typer turns the `Terminated` it raised into a plain exit 130)."""
    return _sigterm_received


def stop_on_sigterm() -> None:
    """SIGTERM stops a command the way Ctrl-C does (raised in the main thread as `Terminated`)."""
    signal.signal(signal.SIGTERM, _on_sigterm)


def interrupted_code(exc: KeyboardInterrupt) -> int:
    return EXIT_TERMINATED if isinstance(exc, Terminated) else EXIT_INTERRUPTED


def fail(message: str, code: int = EXIT_INFRA) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def server_address(server: str | None, password: str | None) -> ServerAddress | None:
    if server is None:  # a password (perhaps from the environment) without a server is not used
        return None
    from isabelle_env.address import ServerAddress

    if ":" not in server:  # a server name: ask the installation for its address
        from isabelle_env.errors import IsabelleError
        from isabelle_env.installation import find_isabelle
        from isabelle_env.server import find_running_server

        try:
            return find_running_server(find_isabelle(None), server)
        except IsabelleError as exc:
            raise fail(str(exc)) from None
    try:
        return ServerAddress.parse(server, password or "")
    except ValueError as exc:
        raise fail(str(exc)) from None
