"""`subgoalxl eval` and `subgoalxl prove`: the main job. Machinery is imported when a command runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cli.options import (
    EXIT_FAILED,
    EXIT_OK,
    IsabelleOpt,
    JsonOpt,
    PasswordOpt,
    ServerOpt,
    Terminated,
    fail,
    interrupted_code,
    server_address,
)

if TYPE_CHECKING:
    from agent.config import RunConfig
    from agent.run import RunMeta
    from agent.search import SearchStats
    from agent.store import RunStore
    from isabelle_env.address import ServerAddress

ConfigOpt = Annotated[Path | None, typer.Option("--config", help="run configuration (TOML); see README")]
RayOpt = Annotated[str | None, typer.Option("--ray-address", help="join a Ray cluster (default: start Ray here)")]
StoreOpt = Annotated[Path | None, typer.Option("--store", help="the run store (SQLite); default: DATA_DIR/runs.sqlite")]
ProverOpt = Annotated[
    str | None, typer.Option("--prover", help="hammer (heuristics + Sledgehammer, no model) or subgoal")
]


def _overrides(prover: str | None, isabelle: str | None, server: str | None, **search: object) -> dict:
    return {
        "search": {"prover": prover, **search},
        "isabelle": {"isabelle_path": isabelle, "server": server},
    }


def _load(config: Path | None, overrides: dict) -> RunConfig:
    from agent.config import ConfigError, load_config

    try:
        return load_config(config, overrides)
    except ConfigError as exc:
        raise fail(str(exc)) from None


def _store(path: Path | None, *, read_only: bool = False) -> RunStore:
    from agent.store import RunStore, StoreError
    from isabelle_env.user_dirs import data_dir

    try:
        return RunStore(path or data_dir() / "runs.sqlite", read_only=read_only)
    except StoreError as exc:
        raise fail(str(exc)) from None


def _isabelle_preflight(cfg: RunConfig, server: object, ray_address: str | None) -> None:
    """Without a server or a cluster, checkers start Isabelle on this machine: find it before Ray starts."""
    if server is not None or ray_address is not None or cfg.isabelle.server:
        return
    from isabelle_env.errors import IsabelleNotFoundError
    from isabelle_env.installation import find_isabelle

    try:
        find_isabelle(cfg.isabelle.isabelle_path)
    except IsabelleNotFoundError as exc:
        raise fail(str(exc)) from None


def _run(
    problems: list[Any],
    meta: RunMeta,
    cfg: RunConfig,
    run_id: str | None,
    store_path: Path | None,
    server: ServerAddress | None,
    ray_address: str | None,
    as_json: bool,
    title: str,
) -> tuple[str, SearchStats]:
    from agent.run import RunError, new_run_id, run_search
    from agent.search import SearchAborted
    from agent.store import RunRefused, StoreError
    from cli.progress import live_progress
    from cli.session_notice import announce_run_session
    from isabelle_env.errors import IsabelleError

    _isabelle_preflight(cfg, server, ray_address)
    run_id = run_id or new_run_id(meta, cfg.search.prover)
    store = _store(store_path)
    try:  # refusals come before anything starts, and alone (`run_search` holds the lease from here on)
        store.check_resumable(
            run_id, {"benchmark": meta.benchmark, "split": meta.split, "fingerprint": meta.fingerprint}
        )
        store.acquire_lease(run_id)
    except StoreError as exc:
        store.close()
        raise fail(str(exc)) from None
    try:  # after the refusals: the session that holds the imports, and what it lacks, said once
        cfg = announce_run_session(cfg, problems, server, cfg.checking.header_for(meta.benchmark))
    except BaseException:
        store.close()
        raise
    typer.echo(f"run {run_id}: {len(problems)} problems, prover {cfg.search.prover}", err=True)
    try:
        with live_progress(title, enabled=not as_json) as on_progress:
            stats = run_search(
                problems=problems,
                config=cfg,
                store=store,
                run_id=run_id,
                meta=meta,
                server=server,
                ray_address=ray_address,
                on_progress=on_progress,
            )
    except RunRefused as exc:  # another driver holds it or took it over: the message is the whole answer
        raise fail(str(exc)) from None
    except (RunError, SearchAborted, StoreError, IsabelleError) as exc:
        started = store.run(run_id) is not None
        hint = f" (finished work is kept; resume with --run-id {run_id})" if started else ""
        raise fail(f"{exc}{hint}") from None
    except KeyboardInterrupt as exc:
        what = "terminated (SIGTERM)" if isinstance(exc, Terminated) else "interrupted"
        typer.echo(f"{what}; finished work is kept; resume with --run-id {run_id}", err=True)
        raise typer.Exit(interrupted_code(exc)) from None
    finally:
        store.close()
    return run_id, stats


def eval_command(
    benchmark: Annotated[str, typer.Option("--benchmark", help="benchmark name recorded with the run")] = "minif2f",
    split: Annotated[str | None, typer.Option("--split", help="valid or test")] = None,
    data: Annotated[
        Path | None,
        typer.Option(
            "--data", help="a miniF2F checkout, a folder of .thy files, or a JSONL file", envvar="SUBGOALXL_DATA"
        ),
    ] = None,
    config: ConfigOpt = None,
    run_id: Annotated[str | None, typer.Option("--run-id", help="resume this run (default: a new run)")] = None,
    limit: Annotated[int | None, typer.Option("--limit", help="first N problems (by name)")] = None,
    problems: Annotated[str | None, typer.Option("--problems", help="comma-separated problem names")] = None,
    store: StoreOpt = None,
    ray_address: RayOpt = None,
    isabelle: IsabelleOpt = None,
    isabelle_server: ServerOpt = None,
    password: PasswordOpt = None,
    prover: ProverOpt = None,
    attempts: Annotated[int | None, typer.Option("--attempts", help="attempts per problem")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Evaluate a prover on a benchmark split: search, record everything, print a summary."""
    from agent.run import RunMeta
    from benchmarks.data.passk import category_counts, format_category_counts
    from benchmarks.data.problems import ProblemLoadError, load_problems

    if data is None:
        raise fail(
            "no benchmark data: pass --data PATH (a miniF2F checkout, e.g. `git clone "
            "https://github.com/facebookresearch/miniF2F`) or set SUBGOALXL_DATA"
        )
    if split is not None and split not in ("valid", "test"):
        raise fail(f"--split must be valid or test, not {split!r}")
    try:
        problem_set = load_problems(data, split=split)
        names = [n.strip() for n in problems.split(",") if n.strip()] if problems else None
        problem_set = problem_set.select(names=names, limit=limit)
    except (ProblemLoadError, ValueError) as exc:
        raise fail(str(exc)) from None
    cfg = _load(config, _overrides(prover, isabelle, isabelle_server, attempts_per_problem=attempts))
    address = server_address(cfg.isabelle.server, password)  # --isabelle-server, else [isabelle] server
    meta = RunMeta(benchmark, split or "", problem_set.fingerprint)
    problems_list = list(problem_set.problems)
    run_id, stats = _run(
        problems_list, meta, cfg, run_id, store, address, ray_address, as_json, f"{benchmark} {split or ''}"
    )
    solved = _solved_names(store, run_id)
    by_category = {k: v for k, v in category_counts(solved).items() if v}
    totals = category_counts(p.name for p in problems_list)
    summary = {
        "run_id": run_id,
        "benchmark": benchmark,
        "split": split,
        "fingerprint": problem_set.fingerprint,
        "solved": stats.solved,
        "problems": stats.problems,
        "solved_rate": round(stats.solved / stats.problems, 4) if stats.problems else 0.0,
        "by_category": by_category,
        "model_stated_problems": sum(not p.has_formal_statement for p in problems_list),
        **stats.to_json(),
    }
    if as_json:
        typer.echo(json.dumps(summary))
    else:
        from rich.console import Console

        from cli.progress import stats_table

        console = Console()
        console.print(stats_table(stats, f"run {run_id}"))
        console.print(f"solved {stats.solved}/{stats.problems}: {format_category_counts(by_category, totals)}")
        if summary["model_stated_problems"]:
            console.print(
                f"{summary['model_stated_problems']} problem(s) had no formal statement: their statements are the "
                "model's (autoformalization), so 'solved' there means the model's own statement was proved"
            )
        if stats.proved_own_statement:
            console.print(
                f"{stats.proved_own_statement} proof(s) of statements the model wrote itself: not counted as solved "
                "(the benchmark's statement is the task); `subgoalxl report` lists them apart"
            )
    raise typer.Exit(EXIT_OK if stats.status in ("finished", "budget") else EXIT_FAILED)


def _solved_names(store_path: Path | None, run_id: str) -> list[str]:
    store = _store(store_path, read_only=True)
    try:
        return sorted(store.solutions(run_id))
    finally:
        store.close()


def prove(
    statement: Annotated[Path, typer.Option("--statement", help="problem theory (.thy) whose theorem to prove")],
    informal: Annotated[str | None, typer.Option("--informal", help="informal statement (and proof) text")] = None,
    config: ConfigOpt = None,
    store: StoreOpt = None,
    ray_address: RayOpt = None,
    isabelle: IsabelleOpt = None,
    isabelle_server: ServerOpt = None,
    password: PasswordOpt = None,
    prover: ProverOpt = None,
    attempts: Annotated[int | None, typer.Option("--attempts", help="attempts")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Prove one theorem and print the proof. Exit 0 proved, 1 not proved, 2 trouble."""
    from agent.run import RunMeta
    from benchmarks.data.problems import ProblemLoadError, load_problems

    if not statement.is_file():
        raise fail(f"{statement} does not exist: give a theory file holding the theorem to prove")
    try:
        (problem,) = load_problems(statement).problems
    except (ProblemLoadError, ValueError) as exc:
        raise fail(str(exc)) from None
    if informal:
        from dataclasses import replace

        problem = replace(problem, informal_statement=informal)
    cfg = _load(config, _overrides(prover, isabelle, isabelle_server, attempts_per_problem=attempts))
    address = server_address(cfg.isabelle.server, password)  # --isabelle-server, else [isabelle] server
    meta = RunMeta("prove", "", f"{problem.name}")
    run_id, stats = _run([problem], meta, cfg, None, store, address, ray_address, True, problem.name)
    store_obj = _store(store, read_only=True)
    try:
        proof = store_obj.solutions(run_id).get(problem.name)
    finally:
        store_obj.close()
    if as_json:
        typer.echo(json.dumps({"run_id": run_id, "problem": problem.name, "proved": proof is not None, "proof": proof}))
    elif proof is not None:
        typer.echo(proof)
    else:
        typer.echo(f"no proof found for {problem.name} ({stats.attempts_done} attempts; see run {run_id})", err=True)
    raise typer.Exit(EXIT_OK if proof is not None else EXIT_FAILED)
