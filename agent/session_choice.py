"""Which Isabelle session a command or run checks in (`isabelle_env.session_select`), and the one notice it prints.

`run_search` calls `resolve_run_session` when `[isabelle] session` is unset, so library callers get the same
choice the command line announces (`cli.session_notice`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
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
