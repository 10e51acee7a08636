"""Putting a search together: Ray, checker actors, a proposer, the store; and taking it apart again."""

from __future__ import annotations

import contextlib
import importlib.metadata
import logging
import os
import signal
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent import ray_reaper
from agent.checking import CheckerSpec, checker_actor_class
from agent.config import RunConfig
from agent.proposers import HammerProposer, ProblemLike, Proposer, own_statement
from agent.search import CheckDispatcher, ProofSearch, SearchStats
from agent.session_choice import resolve_run_session
from agent.store import RunStore
from isabelle_env.address import ServerAddress
from isabelle_env.errors import IsabelleError
from isabelle_env.process import run_command

REPO = Path(__file__).resolve().parent.parent
log = logging.getLogger(__name__)


class RunError(RuntimeError):
    """The run could not start or go on; the message says why and what to do."""


@dataclass(frozen=True)
class RunMeta:
    benchmark: str
    split: str
    fingerprint: str


def code_version() -> str:
    version = importlib.metadata.version("subgoalxl") if _installed() else "unknown"
    try:
        result = run_command(["git", "-C", REPO, "rev-parse", "--short", "HEAD"], timeout=5)
        if result.returncode == 0:
            dirty = run_command(["git", "-C", REPO, "status", "--porcelain"], timeout=5).stdout.strip()
            return f"{version}+g{result.stdout.strip()}{'.dirty' if dirty else ''}"
    except (OSError, IsabelleError):
        pass
    return version


def _installed() -> bool:
    try:
        importlib.metadata.version("subgoalxl")
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def new_run_id(meta: RunMeta, prover: str) -> str:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return f"{meta.benchmark}-{meta.split or 'all'}-{prover}-{stamp}-{uuid.uuid4().hex[:4]}"


def init_ray(address: str | None) -> None:
    """Join a cluster, or start a local Ray that cannot outlive this process (see `agent.ray_reaper`).

    Ray installs its own SIGTERM handler (exit at once, with a stack dump); a handler set before (the CLI's:
    SIGTERM stops a run like Ctrl-C) is put back.
    """
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    import ray

    if ray.is_initialized():
        return
    address = address or os.environ.get("RAY_ADDRESS")  # ray.init() would join that cluster anyway
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.getsignal(signal.SIGTERM) if main_thread else None
    try:
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            if ray_reaper.MARKER_ENV not in os.environ:
                os.environ[ray_reaper.MARKER_ENV] = f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
                ray_reaper.start(os.environ[ray_reaper.MARKER_ENV])
            ray.init(include_dashboard=False, log_to_driver=False, object_store_memory=256 * 1024**2)
            _announce_session()
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = f"the Ray cluster at {address}" if address else "a local Ray instance"
        raise RunError(f"could not start or join {where}: {exc}") from None
    finally:
        if callable(previous):
            signal.signal(signal.SIGTERM, previous)


def _announce_session() -> None:
    """The local Ray's session folder goes when this process does (Ray keeps one per start forever)."""
    try:
        from ray._private import worker

        session = worker._global_node.get_session_dir_path()
    except (AttributeError, ImportError):  # a Ray without this private path: the folder stays
        return
    if session.endswith(f"_{os.getpid()}"):  # Ray names a session after the process that started it: ours
        with contextlib.suppress(OSError):
            ray_reaper.announce(session)


def start_checkers(
    config: RunConfig,
    server: ServerAddress | None,
    cache_path: str | None = None,
    header_imports: tuple[str, ...] = (),
) -> CheckDispatcher:
    """Start the checker actors and wait until each has warm sessions (or report why it could not)."""
    import ray

    iso = config.isabelle
    spec = CheckerSpec(
        checker=config.checking.checker_config(header_imports),
        session=iso.session or "HOL",  # run_search has chosen one by then; "HOL" only for direct callers
        dirs=iso.dirs,
        sessions=iso.sessions_per_checker,
        isabelle_path=iso.isabelle_path,
        server=server,
        cache_path=cache_path,
    )
    actor_class = checker_actor_class(iso.sessions_per_checker + 1)
    actors = [actor_class.options(num_cpus=iso.checker_num_cpus).remote(spec) for _ in range(iso.checkers)]
    dispatcher = CheckDispatcher(actors, iso.sessions_per_checker)
    try:
        dispatcher.info()
    except ray.exceptions.RayError as exc:
        dispatcher.close()
        raise RunError(f"the Isabelle checkers could not start: {_cause(exc)}") from None
    return dispatcher


def _cause(exc: BaseException) -> str:
    text = str(exc)
    for line in reversed(text.splitlines()):
        if "Error:" in line and "ray" not in line.split("Error:")[0].lower():
            return line.split("Error:", 1)[1].strip() or text
    return text.splitlines()[-1] if text else type(exc).__name__


def run_search(
    *,
    problems: Sequence[ProblemLike],
    config: RunConfig,
    store: RunStore,
    run_id: str,
    meta: RunMeta,
    server: ServerAddress | None = None,
    ray_address: str | None = None,
    proposer: Proposer | None = None,
    on_progress: Callable[[SearchStats], None] | None = None,
    cache_path: str | None = None,
) -> SearchStats:
    """Refusals first (another problem set, another driver: `RunRefused`), then Ray, checkers and the search.

    This process holds the run's lease from before Ray starts until the last row is committed.
    """
    if not problems:
        raise RunError("no problems to work on: check --data, --split, --problems and --limit")
    _check_statements(problems, config, proposer)
    store.check_resumable(run_id, {"benchmark": meta.benchmark, "split": meta.split, "fingerprint": meta.fingerprint})
    store.acquire_lease(run_id)
    try:
        return _run_leased(
            problems, config, store, run_id, meta, server, ray_address, proposer, on_progress, cache_path
        )
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM before the search could record it
        row = store.run(run_id)
        if row is not None and row["status"] == "running":
            store.update_run(run_id, status="interrupted")
        raise
    finally:
        store.release_lease(run_id)


def _run_leased(
    problems: Sequence[ProblemLike],
    config: RunConfig,
    store: RunStore,
    run_id: str,
    meta: RunMeta,
    server: ServerAddress | None,
    ray_address: str | None,
    proposer: Proposer | None,
    on_progress: Callable[[SearchStats], None] | None,
    cache_path: str | None,
) -> SearchStats:
    if config.isabelle.session is None:  # choose the session whose heap holds the problems' imports
        config, choice = resolve_run_session(config, problems, server, config.checking.header_for(meta.benchmark))
        if choice.notice():
            log.warning("%s", choice.notice())
    init_ray(ray_address)
    dispatcher = start_checkers(config, server, cache_path, config.checking.header_for(meta.benchmark))
    try:
        proposer = proposer or _default_proposer(config, dispatcher)
    except BaseException:
        dispatcher.close()
        raise
    try:
        info = dispatcher.info()
        store.open_run(
            run_id,
            config=config.model_dump(mode="json"),
            meta={
                "benchmark": meta.benchmark,
                "split": meta.split,
                "fingerprint": meta.fingerprint,
                "code_version": code_version(),
                "isabelle_version": info[0]["isabelle_version"],
                "models": proposer.models(),
            },
        )
        store.add_problems(run_id, [_problem_row(p) for p in problems])
        search = ProofSearch(
            store=store,
            run_id=run_id,
            problems=problems,
            config=config,
            proposer=proposer,
            dispatcher=dispatcher,
            on_progress=on_progress,
        )
        return search.run()
    finally:
        dispatcher.close()
        proposer.close()


def _check_statements(problems: Sequence[ProblemLike], config: RunConfig, proposer: Proposer | None) -> None:
    """Problems without a formal statement of their own can only be stated by the model (autoformalization)."""
    informal = [p.name for p in problems if own_statement(p) is None]
    if not informal or proposer is not None:
        return
    if config.search.prover != "subgoal" or not config.generation.autoformalize:
        shown = ", ".join(informal[:3]) + (f" and {len(informal) - 3} more" if len(informal) > 3 else "")
        raise RunError(
            f"{shown} have no formal statement: the model has to state them. Use search.prover = 'subgoal' with "
            "generation.autoformalize = true (and a statement model), or give rows a formal_statement"
        )


def _default_proposer(config: RunConfig, dispatcher: CheckDispatcher) -> Proposer:
    if config.search.prover == "hammer":
        return HammerProposer()
    from agent.subgoal_proposer import SubgoalProposer

    in_flight = config.scheduling.max_generations_in_flight or config.generation.actors * 4
    return SubgoalProposer(config.generation, statement_checker=dispatcher.check_statement, max_in_flight=in_flight)


def _problem_row(problem: ProblemLike) -> dict[str, Any]:
    return {
        "name": problem.name,
        "split": problem.split,
        "category": problem.category,
        "theory_text": problem.theory_text,
        "informal_statement": problem.informal_statement,
        "informal_proof": problem.informal_proof,
        "attempts_planned": 0,
        "has_formal_statement": int(own_statement(problem) is not None),
    }
