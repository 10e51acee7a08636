"""`subgoalxl bench pipeline|growth|store|isabelle|salvage|generation`: the framework's own performance, side by side.

`generation` measures batched seeded generation on CPU (`--case batching`, the default) or vLLM against
transformers on a GPU (`--case vllm`). Each command prints a table of its contenders and their ratios (measured
in one run: the machines are shared and noisy, so a ratio is the result, an absolute time is context), writes the
full JSON for tracking, and with `--json` prints that one JSON object instead of the table. Benchmarks that need
Isabelle or a GPU skip with a message (exit 0). The synthetic checker they use lives in `benchmarks.perf` and is
reachable from no other command. Registered in agent/cli.py as `app.add_typer(bench_app, name="bench")`;
machinery is imported lazily.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any

import typer

from cli.options import IsabelleOpt, PasswordOpt, ServerOpt, SessionOpt

bench_app = typer.Typer(
    help="Performance benchmarks: scheduler overhead and scaling, store, Isabelle session reuse, generation.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

EXIT_OK, EXIT_INFRA = 0, 2

JsonOpt = Annotated[bool, typer.Option("--json", help="print the result as one JSON object instead of a table")]
OutOpt = Annotated[
    Path | None, typer.Option("--out", help="where to write the JSON (default: DATA_DIR/bench/NAME-STAMP.json)")
]
RayOpt = Annotated[str | None, typer.Option("--ray-address", help="join a Ray cluster (default: start Ray here)")]
ProblemsOpt = Annotated[int, typer.Option("--problems", min=1, help="problems the attempts are spread over")]
CheckersOpt = Annotated[int, typer.Option("--checkers", min=1, help="synthetic checker actors")]
SessionsOpt = Annotated[int, typer.Option("--sessions", min=1, help="concurrent checks per checker actor")]
GeneratorsOpt = Annotated[
    int, typer.Option("--generators", min=1, help="generation.actors (4 generations in flight per actor)")
]


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(EXIT_INFRA)


def _emit(data: dict[str, Any], out: Path | None, as_json: bool, rows: Callable[[dict[str, Any]], Sequence]) -> None:
    """Write the JSON, then print it or the table; a skipped benchmark prints why and exits 0."""
    from benchmarks.perf.common import write_json

    path = write_json(data, out)
    if as_json:
        typer.echo(json.dumps(data))
    elif data.get("skipped") is True:
        typer.echo(data["reason"])
    else:
        from rich.console import Console
        from rich.table import Table

        lines = list(rows(data))
        wide = len(lines[0]) > 2
        table = Table(title=f"subgoalxl bench {data['benchmark']}", show_header=wide)
        for i, name in enumerate(lines[0] if wide else ("measure", "value")):
            table.add_column(name, justify="right" if wide and i else "left")
        for line in lines[1:] if wide else lines:
            table.add_row(*line)
        console = Console(width=max(100, Console().width))
        console.print(table)
        m = data["machine"]
        console.print(
            f"machine: {m['cpus_logical']} logical CPUs, {m['memory_gib']} GiB, load {m['loadavg_1m_at_start']} at "
            f"start; python {m['python']}, ray {m.get('ray', '?')}"
        )
    typer.echo(f"wrote {path}", err=True)


def _with_ray(address: str | None, fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run with Ray up; a Ray this command started is shut down afterwards, so nothing outlives it."""
    from benchmarks.perf.common import ensure_ray

    started = ensure_ray(address)
    try:
        return fn()
    finally:
        if started:
            import ray

            ray.shutdown()


@bench_app.command()
def pipeline(
    attempts: Annotated[int, typer.Option("--attempts", min=1, help="attempts in all")] = 2000,
    problems: ProblemsOpt = 20,
    checkers: CheckersOpt = 8,
    sessions: SessionsOpt = 1,
    check_median_ms: Annotated[float, typer.Option(min=0, help="median check latency (log-normal)")] = 50.0,
    sigma: Annotated[float, typer.Option(min=0, help="log-normal shape: 0 constant, 1 heavy tail")] = 1.0,
    gen_median_ms: Annotated[float, typer.Option(min=0, help="median generation latency (0: instant)")] = 0.0,
    generators: GeneratorsOpt = 4,
    prove_rate: Annotated[
        float, typer.Option(min=0, max=1, help="chance a candidate proves a solvable problem")
    ] = 0.02,
    solvable: Annotated[float, typer.Option(min=0, max=1, help="fraction of problems that can be proved")] = 0.5,
    duplicate_rate: Annotated[float, typer.Option(min=0, max=1, help="chance an attempt repeats a candidate")] = 0.1,
    naive_attempts: Annotated[
        int, typer.Option(min=0, help="attempts the naive loop really runs (projected to all; 0: all)")
    ] = 300,
    max_checks: Annotated[
        int, typer.Option(min=0, help="scheduling.max_checks_in_flight (0: twice checkers x sessions)")
    ] = 0,
    seed: Annotated[int, typer.Option(min=0)] = 0,
    ray_address: RayOpt = None,
    out: OutOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Scheduler vs ideal makespan vs a naive sequential loop, on synthetic checks (parallel efficiency, overhead)."""
    from benchmarks.perf.pipeline import PipelineParams, pipeline_rows, run_pipeline

    params = PipelineParams(
        attempts=attempts,
        problems=min(problems, attempts),
        checkers=checkers,
        sessions=sessions,
        check_median_ms=check_median_ms,
        sigma=sigma,
        gen_median_ms=gen_median_ms,
        generators=generators,
        prove_rate=prove_rate,
        solvable=solvable,
        duplicate_rate=duplicate_rate,
        naive_attempts=naive_attempts,
        max_checks=max_checks,
        seed=seed,
    )
    _emit(_with_ray(ray_address, lambda: run_pipeline(params)), out, as_json, pipeline_rows)


@bench_app.command()
def growth(
    sizes: Annotated[str, typer.Option("--sizes", help="comma-separated attempt counts")] = "1000,10000,100000",
    problems: ProblemsOpt = 100,
    checkers: CheckersOpt = 8,
    sessions: SessionsOpt = 1,
    generators: GeneratorsOpt = 4,
    ray_address: RayOpt = None,
    out: OutOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Time per attempt, driver peak RSS and resume time at growing N (zero latency: the framework's cost alone)."""
    from benchmarks.perf.pipeline import GrowthParams, growth_rows, run_growth

    try:
        counts = tuple(int(s) for s in sizes.split(",") if s.strip())
    except ValueError:
        raise _fail(f"--sizes takes comma-separated integers, e.g. 1000,10000,100000; got {sizes!r}") from None
    if not counts or min(counts) < 1:
        raise _fail(f"--sizes needs at least one positive attempt count, got {sizes!r}")
    params = GrowthParams(sizes=counts, problems=problems, checkers=checkers, sessions=sessions, generators=generators)
    _emit(_with_ray(ray_address, lambda: run_growth(params)), out, as_json, growth_rows)


@bench_app.command()
def store(
    rows: Annotated[
        int, typer.Option("--rows", min=1, help="attempt rows written through the batched store")
    ] = 100_000,
    producers: Annotated[int, typer.Option("--producers", min=1, help="concurrent producer threads")] = 4,
    naive_rows: Annotated[int, typer.Option("--naive-rows", min=1, help="rows committed one by one")] = 2000,
    problems: ProblemsOpt = 100,
    out: OutOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Batched attempt/verdict writes vs one commit per row, and the report's query times on the written run."""
    from benchmarks.perf.store import StoreParams, run_store, store_rows

    params = StoreParams(rows=rows, producers=producers, naive_rows=naive_rows, problems=min(problems, rows))
    _emit(run_store(params), out, as_json, store_rows)


@bench_app.command()
def isabelle(
    data: Annotated[
        Path | None,
        typer.Option("--data", help="a miniF2F checkout (its .thy files ship proofs)", envvar="SUBGOALXL_DATA"),
    ] = None,
    proofs: Annotated[int, typer.Option("--proofs", min=1, help="shipped proofs to check every way")] = 20,
    dsp_proofs: Annotated[
        Path | None,
        typer.Option(
            "--dsp-proofs",
            help="DSP's human_100_proofs.jsonl(.tar.gz): verify their sketches vs the finished proofs",
            envvar="SUBGOALXL_DSP_PROOFS",
        ),
    ] = None,
    dsp: Annotated[int, typer.Option("--dsp", min=1, help="DSP proofs to verify (first by name with ATP steps)")] = 10,
    memory_checks: Annotated[int, typer.Option("--memory-checks", min=1, help="checks in one warm session")] = 500,
    session: Annotated[
        str | None,
        typer.Option("--session", help="session to check in (default: the built one holding the miniF2F imports)"),
    ] = None,
    all_imports: Annotated[
        bool, typer.Option("--all-imports", help="also proofs importing libraries outside the session's heap")
    ] = False,
    isabelle_path: Annotated[str | None, typer.Option("--isabelle", help="Isabelle installation")] = None,
    isabelle_server: Annotated[
        str | None,
        typer.Option("--isabelle-server", help="a running `isabelle server` (HOST:PORT, or its NAME) instead"),
    ] = None,
    password: Annotated[
        str | None,
        typer.Option("--password", envvar="SUBGOALXL_ISABELLE_PASSWORD", help="password of --isabelle-server"),
    ] = None,
    out: OutOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """On the miniF2F imports: warm vs fresh sessions per check, and verify vs the finished proof (needs Isabelle)."""
    from benchmarks.data.problems import ProblemLoadError
    from benchmarks.perf.isabelle import IsabelleParams, isabelle_rows, run_isabelle
    from cli.options import server_address
    from isabelle_env.errors import IsabelleError

    address = server_address(isabelle_server, password)
    params = IsabelleParams(
        data=str(data) if data else None,
        proofs=proofs,
        memory_checks=memory_checks,
        session=session,
        isabelle=isabelle_path,
        server=str(address) if address else None,
        all_imports=all_imports,
        dsp_proofs=str(dsp_proofs) if dsp_proofs else None,
        dsp=dsp,
    )
    try:
        data_out = run_isabelle(params, address=address)
    except (ValueError, ProblemLoadError, IsabelleError) as exc:
        raise _fail(str(exc)) from None
    _emit(data_out, out, as_json, isabelle_rows)


@bench_app.command()
def salvage(
    dsp_proofs: Annotated[
        Path | None,
        typer.Option("--dsp-proofs", help="DSP's human_100_proofs.jsonl(.tar.gz)", envvar="SUBGOALXL_DSP_PROOFS"),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="DSP proofs (first by name with automated steps)")] = 200,
    broken: Annotated[str, typer.Option("--broken", help="the failing method put at every automated step")] = (
        "by (simp only:)"
    ),
    depth: Annotated[int, typer.Option("--depth", min=2, help="salvage_depth of the coarsening mode")] = 3,
    sledgehammer: Annotated[bool, typer.Option(help="let Sledgehammer fill gaps")] = True,
    session: SessionOpt = None,
    isabelle_path: IsabelleOpt = None,
    isabelle_server: ServerOpt = None,
    password: PasswordOpt = None,
    out: OutOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """DSP's proofs broken at every automated step: how many salvage off / gaps filled / coarsening closes."""
    from benchmarks.perf.salvage import SalvageParams, run_salvage, salvage_rows
    from cli.options import server_address
    from isabelle_env.audit import audit_candidate
    from isabelle_env.errors import IsabelleError
    from isabelle_env.theory_text import problem_from_statement

    report = audit_candidate(problem_from_statement('theorem t: "True"'), broken)
    if not report.ok:
        raise _fail(f"--broken {broken!r} is not allowed in a proof: {report.findings[0].message}")
    address = server_address(isabelle_server, password)
    params = SalvageParams(
        dsp_proofs=str(dsp_proofs) if dsp_proofs else None,
        limit=limit,
        broken=broken,
        depth=depth,
        session=session,
        isabelle=isabelle_path,
        server=str(address) if address else None,
        sledgehammer=sledgehammer,
    )
    try:
        data_out = run_salvage(params, address=address)
    except (ValueError, IsabelleError) as exc:
        raise _fail(str(exc)) from None
    _emit(data_out, out, as_json, salvage_rows)


@bench_app.command()
def generation(
    case: Annotated[
        str,
        typer.Option(
            "--case",
            help="batching: N concurrent seeded requests through the actor pool vs one at a time (CPU, tiny model); "
            "vllm: the vLLM backend vs transformers (CUDA GPU and vLLM)",
        ),
    ] = "batching",
    model: Annotated[
        str | None, typer.Option("--model", help="local model directory or HF id (batching: default a tiny model)")
    ] = None,
    prompts: Annotated[int, typer.Option("--prompts", min=1, help="vllm: prompts in the call")] = 64,
    requests: Annotated[int, typer.Option("--requests", min=1, help="batching: concurrent requests")] = 16,
    max_tokens: Annotated[int | None, typer.Option("--max-tokens", min=1, help="default 64 (batching), 256")] = None,
    n: Annotated[int, typer.Option("--n", min=1, help="vllm: samples per prompt")] = 1,
    gpu_memory_utilization: Annotated[float, typer.Option(min=0.05, max=1.0, help="vLLM's share of the GPU")] = 0.5,
    ray_address: RayOpt = None,
    out: OutOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Generation throughput: batching of seeded requests on CPU, or vLLM vs transformers on a GPU."""
    from generators.backend import BackendError

    if case == "batching":
        from benchmarks.perf.batching import BatchingParams, batching_rows, run_batching

        params_b = BatchingParams(requests=requests, max_tokens=max_tokens or 64, model=model)
        try:
            data = _with_ray(ray_address, lambda: run_batching(params_b))
        except (ValueError, BackendError, OSError) as exc:
            raise _fail(str(exc)) from None
        _emit(data, out, as_json, batching_rows)
        return
    if case != "vllm":
        raise _fail(f"--case must be batching or vllm, not {case!r}")
    from benchmarks.perf.generation import GenerationParams, generation_rows, run_generation

    params = GenerationParams(
        model=model,
        prompts=prompts,
        max_tokens=max_tokens or 256,
        n=n,
        gpu_memory_utilization=gpu_memory_utilization,
    )
    try:
        data = run_generation(params)
    except (ValueError, BackendError, OSError) as exc:
        raise _fail(str(exc)) from None
    _emit(data, out, as_json, generation_rows)
