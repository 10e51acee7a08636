"""Which session a command checks in, said once: the command line's side of `agent.session_choice`."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from agent.session_choice import resolve_run_session

if TYPE_CHECKING:
    from agent.config import RunConfig
    from agent.proposers import ProblemLike
    from isabelle_env.address import ServerAddress
    from isabelle_env.sessions import SessionChoice


def _say(choice: SessionChoice) -> None:
    import typer

    notice = choice.notice()
    # with no Isabelle to inspect and no server, the command fails on its own with how to get one
    if notice and (choice.where or choice.overridden):
        typer.echo(f"note: {notice}", err=True)


def announce_run_session(
    config: RunConfig,
    problems: Sequence[ProblemLike],
    server: ServerAddress | None,
    header_imports: Sequence[str] = (),
) -> RunConfig:
    """`resolve_run_session` for eval/prove: says once what the chosen heap lacks; trouble exits 2."""
    from cli.options import fail
    from isabelle_env.errors import IsabelleError

    try:
        config, choice = resolve_run_session(config, problems, server, header_imports)
    except IsabelleError as exc:
        raise fail(str(exc)) from None
    _say(choice)
    return config


def announce_session(
    imports: Iterable[str],
    session: str | None,
    *,
    isabelle: str | None,
    server: ServerAddress | None,
    dirs: Sequence[Path] = (),
) -> SessionChoice:
    """The session for check/verify (`--session` wins), with the notice printed once; trouble exits 2."""
    from cli.options import fail
    from isabelle_env.errors import IsabelleError
    from isabelle_env.session_select import select_session

    folders = []
    for folder in dirs:
        if not (folder / "ROOT").is_file() and not (folder / "ROOTS").is_file():
            raise fail(f"--session-dir {folder} holds no ROOT or ROOTS file: pass the folder of a session's ROOT")
        folders.append(str(folder.resolve()))
    try:
        choice = select_session(imports, session, isabelle=isabelle, server=server, dirs=folders)
    except IsabelleError as exc:
        raise fail(str(exc)) from None
    _say(choice)
    return choice
