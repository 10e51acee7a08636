"""Isabelle session reuse: warm pooled sessions against a fresh server per check, on miniF2F's shipped proofs.

Side by side, on the same proofs (the human Isar proofs shipped with miniF2F, checked as whole theories):
  - warm: one `IsabelleServer`, one `SessionPool` session, every proof checked in it (purged after each);
  - cold: what the published research code does, a new server and session for every proof.
Then memory: the warm session's process tree (poly) sampled while it checks `memory_checks` proofs in a row;
purging after every check should keep it flat. Runs only where a real Isabelle is found; skips otherwise.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from benchmarks.perf.common import MB, result, skipped, slope
from benchmarks.problems import BenchmarkProblem, load_problems

#: Imports the plain HOL heap covers; other proofs need a session with more heaps (`--all-imports --session ...`).
HEAP_IMPORTS = frozenset({"Main", "Complex_Main", "HOL.HOL", "HOL.Main", "HOL.Complex_Main"})


@dataclass(frozen=True)
class IsabelleParams:
    data: str | None = None  # a miniF2F checkout (its .thy files ship the proofs)
    proofs: int = 20
    memory_checks: int = 500
    session: str = "HOL"
    isabelle: str | None = None
    all_imports: bool = False  # also proofs importing libraries outside the session's heap
    timeout: float = 300.0  # per check


def shipped_proofs(data: str | Path, count: int, *, all_imports: bool = False) -> list[BenchmarkProblem]:
    """The first `count` problems (by split, then name) that ship a proof, by default only those whose imports
    the HOL heap covers, so that a check measures checking and not loading libraries."""
    problems = [p for p in load_problems(data) if p.had_shipped_proof]
    if not all_imports:
        problems = [p for p in problems if set(p.imports) <= HEAP_IMPORTS]
    problems.sort(key=lambda p: (p.split, p.name))
    if len(problems) < count:
        raise ValueError(
            f"{data} has {len(problems)} shipped proofs{'' if all_imports else ' importing only Complex_Main'}, "
            f"fewer than the {count} asked for: lower --proofs or pass --all-imports"
        )
    return problems[:count]


def write_theories(problems: Sequence[BenchmarkProblem], folder: Path) -> list[Path]:
    """Each problem's original file, proof included, as FOLDER/SPLIT/NAME.thy (file name = theory name)."""
    paths = []
    for problem in problems:
        path = folder / (problem.split or "all") / f"{problem.name}.thy"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(Path(problem.source).read_text(encoding="utf-8"), encoding="utf-8")
        paths.append(path)
    return paths


def _session_rss_mb(server: Any) -> float:
    """RSS of every process under the server except the server's own JVM: the sessions' poly processes."""
    import psutil

    if server.pid is None:
        return 0.0
    try:
        children = psutil.Process(server.pid).children(recursive=True)
    except psutil.Error:
        return 0.0
    total = 0
    for child in children:
        try:
            if "poly" in child.name().lower():
                total += child.memory_info().rss
        except psutil.Error:
            continue
    return total / MB


def run_isabelle(params: IsabelleParams, *, workdir: Path | None = None) -> dict[str, Any]:
    import tempfile

    from isabelle_env.errors import IsabelleNotFoundError
    from isabelle_env.installation import find_isabelle

    try:
        installation = find_isabelle(params.isabelle)
    except IsabelleNotFoundError as exc:
        return skipped("isabelle", asdict(params), f"skipped: this benchmark needs a real Isabelle. {exc}")
    if params.data is None:
        raise ValueError("no miniF2F data: pass --data PATH (a miniF2F checkout) or set SUBGOALXL_DATA")
    problems = shipped_proofs(params.data, params.proofs, all_imports=params.all_imports)
    with tempfile.TemporaryDirectory(prefix="subgoalxl-bench-", dir=workdir) as folder:
        paths = write_theories(problems, Path(folder))
        warm = _warm(installation, paths, params)
        cold = _cold(installation, paths, params)
    warm_rate = len(paths) / warm["checks_s"] if warm["checks_s"] else 0.0
    cold_rate = len(paths) / cold["checks_s"] if cold["checks_s"] else 0.0
    memory = warm.pop("memory")
    xs = [m[0] / 100 for m in memory]
    return result(
        "isabelle",
        asdict(params),
        isabelle=str(installation.home),
        proofs=[p.name for p in problems],
        warm_checks_per_s=round(warm_rate, 4),
        cold_checks_per_s=round(cold_rate, 4),
        warm_over_cold=round(warm_rate / cold_rate, 2) if cold_rate else None,
        warm=warm,
        cold=cold,
        memory_checks=[m[0] for m in memory],
        session_rss_mb=[round(m[1], 1) for m in memory],
        session_rss_slope_mb_per_100_checks=round(slope(xs, [m[1] for m in memory]), 3),
    )


def _warm(installation: Any, paths: Sequence[Path], params: IsabelleParams) -> dict[str, Any]:
    from isabelle_env.server import IsabelleServer
    from isabelle_env.session_pool import SessionPool, SessionPoolConfig
    from isabelle_env.theory_check import check_theory_files

    config = SessionPoolConfig(session=params.session, size=1, check_timeout=params.timeout)
    started = time.perf_counter()
    with IsabelleServer(installation) as server, SessionPool(server, config) as pool:
        startup = time.perf_counter() - started
        check_started = time.perf_counter()
        ok = sum(check_theory_files(pool, [p], timeout=params.timeout)[0].ok for p in paths)
        checks_s = time.perf_counter() - check_started
        memory = [(len(paths), _session_rss_mb(server))]
        done = len(paths)
        while done < params.memory_checks:
            check_theory_files(pool, [paths[done % len(paths)]], timeout=params.timeout)
            done += 1
            if done % 50 == 0 or done == params.memory_checks:
                memory.append((done, _session_rss_mb(server)))
    return {"startup_s": round(startup, 3), "checks_s": round(checks_s, 3), "ok": ok, "memory": memory}


def _cold(installation: Any, paths: Sequence[Path], params: IsabelleParams) -> dict[str, Any]:
    from isabelle_env.server import IsabelleServer
    from isabelle_env.session_pool import SessionPool, SessionPoolConfig
    from isabelle_env.theory_check import check_theory_files

    config = SessionPoolConfig(session=params.session, size=1, check_timeout=params.timeout)
    ok = 0
    started = time.perf_counter()
    for path in paths:  # a server and a session per proof, as the research code starts one JVM per proof
        with IsabelleServer(installation) as server, SessionPool(server, config) as pool:
            ok += check_theory_files(pool, [path], timeout=params.timeout)[0].ok
    return {"checks_s": round(time.perf_counter() - started, 3), "ok": ok}


def isabelle_rows(data: dict[str, Any]) -> list[tuple[str, str]]:
    warm, cold = data["warm"], data["cold"]
    n = len(data["proofs"])
    return [
        ("proofs", f"{n} shipped miniF2F proofs"),
        (
            "warm pool: checks/s (ok)",
            f"{data['warm_checks_per_s']:.3f} ({warm['ok']}/{n}); start-up {warm['startup_s']} s",
        ),
        ("fresh server per check: checks/s (ok)", f"{data['cold_checks_per_s']:.3f} ({cold['ok']}/{n})"),
        ("warm / fresh", f"{data['warm_over_cold']}x"),
        (
            "session RSS (first -> last sample)",
            f"{data['session_rss_mb'][0]} -> {data['session_rss_mb'][-1]} MB after {data['memory_checks'][-1]} checks",
        ),
        ("session RSS slope", f"{data['session_rss_slope_mb_per_100_checks']:+.2f} MB per 100 checks"),
    ]
