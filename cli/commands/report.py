"""`subgoalxl report`: files that summarise finished runs (Markdown, JSON, JSONL, PNG, one HTML page).

It reads the run store only: no Ray, no model, no Isabelle. Machinery is imported when the command runs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from cli.options import EXIT_OK, JsonOpt, fail


def report(
    run_ids: Annotated[list[str], typer.Argument(help="run ids to report (several: also their union)")],
    out: Annotated[Path, typer.Option("--out", help="folder to write the report into (created when missing)")],
    store: Annotated[
        Path | None, typer.Option("--store", help="the run store (SQLite); default: DATA_DIR/runs.sqlite")
    ] = None,
    data: Annotated[
        Path | None,
        typer.Option(
            "--data",
            help="the benchmark (e.g. a miniF2F checkout) that published names and splits are looked up in",
            envvar="SUBGOALXL_DATA",
        ),
    ] = None,
    compare_dsp: Annotated[
        Path | None,
        typer.Option("--compare-dsp", help="DSP's results/ folder: compare with each of its *.txt solved lists"),
    ] = None,
    compare: Annotated[
        list[Path] | None,
        typer.Option("--compare", help="a published per-problem .jsonl (problem_name, solved) or .txt list; repeat"),
    ] = None,
    k: Annotated[
        str | None, typer.Option("--k", help="pass@k values, e.g. 1,8,64 (default: 1, powers of 2, the budget)")
    ] = None,
    allow_mixed: Annotated[
        bool, typer.Option("--allow-mixed", help="report runs on different benchmark fingerprints together")
    ] = False,
    plots: Annotated[bool, typer.Option(help="draw the PNG plots (needs matplotlib)")] = True,
    as_json: JsonOpt = False,
) -> None:
    """Write a report of one or more runs: summary.md, summary.json, problems.jsonl, plots and index.html."""
    from benchmarks.report import ReportError, build_report, parse_ks, passk_text, write_report

    try:
        ks = parse_ks(k) if k is not None else None
    except ReportError as exc:
        raise fail(str(exc)) from None
    if out.exists() and not out.is_dir():
        raise fail(f"--out {out} is a file: give a folder for the report (it is created when missing)")
    store_path = store or _default_store()
    if not store_path.is_file():
        raise fail(
            f"no run store at {store_path}: pass --store PATH (the file `subgoalxl eval --store` wrote), "
            "or run `subgoalxl eval` first"
        )
    reference, published = _published(data, compare_dsp, compare or [])
    import sqlite3

    from agent.store import RunStore, StoreError

    try:
        with RunStore(store_path, read_only=True) as run_store:  # reading alone: works on read-only media
            built = build_report(
                run_store, run_ids, ks=ks, reference=reference, published=published, allow_mixed=allow_mixed
            )
    except (ReportError, StoreError) as exc:
        raise fail(str(exc)) from None
    except sqlite3.DatabaseError as exc:
        raise fail(
            f"{store_path} is not a run store ({exc}): pass --store PATH to the SQLite file of your runs"
        ) from None
    if plots:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise fail("the plots need matplotlib: `pip install matplotlib`, or pass --no-plots") from None
    try:
        written = write_report(built, out, plots=plots)
    except ReportError as exc:
        raise fail(str(exc)) from None
    except OSError as exc:
        raise fail(
            f"cannot write the report into {out} ({exc.strerror or exc}): give a writable folder with --out"
        ) from None
    if as_json:
        typer.echo(json.dumps({"out": str(out), "files": sorted(written), **_headline(built)}))
    else:
        for s in built.summaries if len(built.runs) > 1 else built.summaries[:1]:
            passk = ", ".join(f"pass@{kk} {passk_text(s, kk)}" for kk in built.ks)
            typer.echo(f"{s.label}: solved {s.solved}/{s.problems} ({s.category_text}); {passk}")
        for row in built.comparisons:
            typer.echo(
                f"vs {row.label} ({row.split}): both {len(row.both)}, only ours {len(row.only_ours)}, "
                f"only theirs {len(row.only_theirs)}"
            )
        for note in built.notes:
            typer.echo(f"note: {note}", err=True)
        typer.echo(f"report written to {out}/ (open {out / 'index.html'})")
    raise typer.Exit(EXIT_OK)


def _default_store() -> Path:
    from isabelle_env.user_dirs import data_dir

    return data_dir() / "runs.sqlite"


def _published(data: Path | None, dsp: Path | None, files: list[Path]):  # noqa: ANN202 - lazy import
    """The reference problem set and the published lists to compare with (none without --compare*)."""
    if dsp is None and not files:
        return None, []
    for path in files:
        if str(path).lower() == "dsp" and not path.exists():
            raise fail(
                "to compare with DSP give its results folder: --compare-dsp DIR (e.g. shared/datasets/dsp/results)"
            )
    if data is None:
        raise fail(
            "comparing with published results needs --data PATH (a miniF2F checkout): names and splits are "
            "looked up there (or set SUBGOALXL_DATA)"
        )
    from benchmarks.data.problems import ProblemLoadError, load_problems
    from benchmarks.data.published import load_dsp_results, load_published

    try:
        reference = load_problems(data)
        published = list(load_dsp_results(dsp, reference).values()) if dsp is not None else []
        published += [load_published(path, reference) for path in files]
    except ProblemLoadError as exc:
        raise fail(str(exc)) from None
    labels = [p.label for p in published]
    if len(set(labels)) != len(labels):
        raise fail(f"two published lists share a name ({', '.join(labels)}): rename one of the files")
    return reference, published


def _headline(built) -> dict:  # noqa: ANN001
    return {
        s.label: {"problems": s.problems, "solved": s.solved, "pass_at_k": {str(k): v for k, v in s.pass_at_k.items()}}
        for s in built.summaries
    }
