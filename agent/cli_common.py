"""Options, exit codes and helpers shared by the `subgoalxl` commands (kept apart from the app to avoid cycles)."""

from __future__ import annotations

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
