"""Which Isabelle session a command or run checks in (`isabelle_env.session_select`), and the one notice it prints.

Commands call `announce_session` (check, verify) or `announce_run_session` (eval, prove); `run_search` calls
`resolve_run_session` itself when `[isabelle] session` is unset, so library callers get the same choice.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agent.config import RunConfig
    from agent.proposers import ProblemLike
    from isabelle_env.address import ServerAddress
    from isabelle_env.sessions import SessionChoice


def problem_imports(problems: Iterable[ProblemLike]) -> tuple[str, ...]:
    """The union of the problems' imports, in first-seen order (one session serves the whole run)."""
    from isabelle_env.sessions import theory_file_imports

    seen: dict[str, None] = {}
    for problem in problems:
        for name in getattr(problem, "imports", None) or theory_file_imports(problem.theory_text):
            seen.setdefault(name, None)
    return tuple(seen)


def resolve_run_session(
    config: RunConfig,
    problems: Sequence[ProblemLike],
    server: ServerAddress | None,
    header_imports: Sequence[str] = (),
) -> tuple[RunConfig, SessionChoice]:
    """The run's config with `[isabelle] session` and `dirs` set to the chosen session (an override is kept);
    `header_imports`, the benchmark header checks run under, count as imports of every problem."""
    from isabelle_env.session_select import select_session

    iso = config.isabelle
    imports = tuple(dict.fromkeys((*header_imports, *problem_imports(problems))))
    choice = select_session(imports, iso.session, isabelle=iso.isabelle_path, server=server, dirs=iso.dirs)
    chosen = iso.model_copy(update={"session": choice.session, "dirs": choice.dirs})
    return config.model_copy(update={"isabelle": chosen}), choice


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
    from agent.cli_common import fail
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
    from agent.cli_common import fail
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
