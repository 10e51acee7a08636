"""`subgoalxl iterate` (run or resume expert iteration) and `subgoalxl iterate-report` (its per-round curve).

The loop's machinery (Ray, torch, TRL) is imported when a command runs, so `subgoalxl --help` stays light.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

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

StoreOpt = Annotated[
    Path | None, typer.Option("--store", help="the run store (SQLite); default: loop.store, else DATA_DIR/runs.sqlite")
]


class _Display:
    """Live table: one row per round and step, with its status and latest detail."""

    def __init__(self, loop_id: str) -> None:
        self.loop_id = loop_id
        self.rows: dict[tuple[int, str], list[str]] = {}
        self.started: dict[tuple[int, str], float] = {}

    def update(self, event: Any) -> None:
        key = (event.round, event.step)
        if not event.step:
            return
        if event.status == "started":
            self.started[key] = time.monotonic()
        elapsed = f"{time.monotonic() - self.started[key]:.0f}s" if key in self.started else ""
        status = "running" if event.status in ("started", "progress") else event.status
        old = self.rows.get(key, ["", "", ""])
        self.rows[key] = [status, event.detail or old[1], elapsed]

    def render(self) -> Any:
        from rich.table import Table

        table = Table(title=f"expert iteration {self.loop_id}", show_lines=False)
        for column in ("round", "step", "status", "detail", "time"):
            table.add_column(column, overflow="fold")
        style = {"done": "green", "skipped": "dim", "failed": "red", "running": "yellow"}
        for (round_, step), (status, detail, elapsed) in self.rows.items():
            table.add_row(str(round_), step, f"[{style.get(status, '')}]{status}[/]", detail, elapsed)
        return table


def iterate(
    config: Annotated[Path, typer.Option("--config", help="loop configuration (TOML); see README")],
    loop_id: Annotated[str | None, typer.Option("--loop-id", help="run or resume this loop (default: loop.id)")] = None,
    rounds: Annotated[int | None, typer.Option("--rounds", help="rounds in all (overrides loop.rounds)")] = None,
    store: StoreOpt = None,
    work_dir: Annotated[
        Path | None, typer.Option("--work-dir", help="models and datasets (default: loop.work_dir)")
    ] = None,
    ray_address: Annotated[str | None, typer.Option("--ray-address", help="join a Ray cluster")] = None,
    isabelle: IsabelleOpt = None,
    isabelle_server: ServerOpt = None,
    password: PasswordOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Expert iteration: per round sample, verify, score, select, build datasets, fine-tune, evaluate. Resumable."""
    from expert_iteration.config import IterateConfigError, load_iterate_config

    overrides = {"loop": {"rounds": rounds}, "isabelle": {"isabelle_path": isabelle}}
    try:
        cfg = load_iterate_config(config, overrides)
    except IterateConfigError as exc:
        raise fail(str(exc)) from None
    address = server_address(isabelle_server or cfg.isabelle.server, password)  # the flag, else [isabelle] server
    from rich.console import Console
    from rich.live import Live

    from agent.run import RunError
    from agent.search import SearchAborted
    from agent.store import StoreError
    from expert_iteration.curve import round_curve
    from expert_iteration.library import LibraryError
    from expert_iteration.loop import ExpertIteration, LoopError
    from expert_iteration.training import TrainingError
    from expert_iteration.verification import VerificationError
    from isabelle_env.errors import IsabelleError

    try:
        loop = ExpertIteration(
            cfg, loop_id=loop_id, store_path=store, work_dir=work_dir, server=address, ray_address=ray_address
        )
    except StoreError as exc:
        raise fail(str(exc)) from None
    display = _Display(loop.loop_id)
    typer.echo(f"loop {loop.loop_id}: {cfg.loop.rounds} round(s); store {loop.store_path}", err=True)
    expected = (LoopError, RunError, SearchAborted, StoreError, IsabelleError, TrainingError, VerificationError)
    try:
        if as_json:
            loop.run()
        else:
            with Live(display.render(), console=Console(stderr=True), refresh_per_second=4) as live:

                def on_event(event: Any) -> None:
                    display.update(event)
                    live.update(display.render())

                loop.on_event = on_event
                loop.run()
    except (*expected, LibraryError) as exc:
        raise fail(f"{exc} (finished steps are kept; rerun the same command to resume)") from None
    except KeyboardInterrupt as exc:
        what = "terminated (SIGTERM)" if isinstance(exc, Terminated) else "interrupted"
        typer.echo(f"{what}; rerun the same command to resume loop {loop.loop_id}", err=True)
        raise typer.Exit(interrupted_code(exc)) from None
    finally:
        loop.close()
    curve = round_curve(loop.store_path, loop.loop_id)
    if as_json:
        typer.echo(json.dumps({"loop_id": loop.loop_id, "rounds": curve}))
    else:
        from rich.console import Console

        Console().print(curve_table(loop.loop_id, curve))
    raise typer.Exit(EXIT_OK)


def curve_table(loop_id: str, curve: list[dict[str, Any]]) -> Any:
    from rich.table import Table

    table = Table(title=f"loop {loop_id}: per-round curve")
    for column in ("round", "evaluated", "solved", "pass@k", "union solved", "data size", "datasets"):
        table.add_column(column, overflow="fold")
    for row in curve:
        k = row["k"]
        pass_k = f"pass@{k} {row['pass_at_k']:.3f}" if row["pass_at_k"] is not None else "-"
        union = f"{row['union_solved']}/{row['heldout']}" if row["heldout"] is not None else "-"
        data = ", ".join(f"{name} {n}" for name, n in row["data"].items()) or "-"
        cells = (row["round"], row["evaluated"], row["solved"], pass_k, union, row["data_size"], data)
        table.add_row(*("-" if c is None else str(c) for c in cells))
    return table


def iterate_report(
    loop_id: Annotated[str, typer.Argument(help="the loop (see `subgoalxl iterate`)")],
    store: Annotated[Path | None, typer.Option("--store", help="the run store; default DATA_DIR/runs.sqlite")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="also write the curve as JSON to this file")] = None,
    as_json: JsonOpt = False,
) -> None:
    """The per-round curve of a loop: solved and pass@k per round, the union solved, data size per round."""
    from agent.store import StoreError
    from expert_iteration.curve import CurveError, round_curve
    from isabelle_env.user_dirs import data_dir

    try:
        curve = round_curve(store or data_dir() / "runs.sqlite", loop_id)
    except (CurveError, StoreError) as exc:
        raise fail(str(exc)) from None
    payload = {"loop_id": loop_id, "rounds": curve}
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(payload, indent=2))
    if as_json:
        typer.echo(json.dumps(payload))
    else:
        from rich.console import Console

        Console().print(curve_table(loop_id, curve))
    raise typer.Exit(EXIT_OK if curve else EXIT_FAILED)


def iterate_experts(
    loop_id: Annotated[str, typer.Argument(help="the loop (see `subgoalxl iterate`)")],
    out: Annotated[Path, typer.Option("--out", help="the experts file to write (TOML of [[expert]] tables)")],
    store: Annotated[Path | None, typer.Option("--store", help="the run store; default DATA_DIR/runs.sqlite")] = None,
) -> None:
    """Write every model version of a loop as experts (`role/LOOP/rN`) for `[generation] experts_file`."""
    from agent.store import StoreError
    from expert_iteration.experts import write_experts_file
    from isabelle_env.user_dirs import data_dir

    path = store or data_dir() / "runs.sqlite"
    if not path.is_file():
        raise fail(f"no run store at {path}: pass --store PATH")
    try:
        experts = write_experts_file(path, loop_id, out)
    except (ValueError, StoreError) as exc:
        raise fail(str(exc)) from None
    typer.echo(f"{len(experts)} experts written to {out}: {', '.join(experts.names)}")
    raise typer.Exit(EXIT_OK)
