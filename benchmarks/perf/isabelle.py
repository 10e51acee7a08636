"""Isabelle on the miniF2F imports, side by side in one run: session reuse, and the checker's overhead.

Where: an installation (a server this benchmark starts and owns) or a running server (`--isabelle-server`), in
the session whose heap holds miniF2F's distribution imports (`session_select`; `--session` to pick another).
Side by side:
  1. checks/s on the human Isar proofs shipped with miniF2F, checked as whole theories:
     - warm: one pooled session, every proof checked in it (purged after each);
     - a fresh session per check on the same server (session_start, check, session_stop);
     - with an installation also a fresh server per check (what the published research code does);
  2. `verify` time against the time Isabelle needs for the finished proof alone, on a fixed set of DSP's published
     proofs: the finished proof (as published, ATP markers are comments) checked as a theory, then its sketch
     (`atp_to_sledgehammer`: every automated step back to `sledgehammer`) verified by `ProofChecker`, both in the
     same warm session under the miniF2F header. verify / finished is the checker's overhead;
  3. with a server we own, the warm session's process tree (poly) RSS over `memory_checks` checks.
Without a real Isabelle it skips with a message.
"""

from __future__ import annotations

import json
import statistics
import tarfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.data.problems import BenchmarkProblem, load_problems
from benchmarks.perf.common import MB, result, skipped, slope
from isabelle_env.sessions import AFP_IMPORTS, MINIF2F_IMPORTS

#: The header every benchmark theory is checked under: miniF2F's imports from the Isabelle distribution.
BENCH_IMPORTS: tuple[str, ...] = tuple(i for i in MINIF2F_IMPORTS if i not in AFP_IMPORTS)
#: Imports the plain HOL heap covers (what the shipped-proof selection used before sessions were chosen).
HEAP_IMPORTS = frozenset({"Main", "Complex_Main", "HOL.HOL", "HOL.Main", "HOL.Complex_Main"})


@dataclass(frozen=True)
class IsabelleParams:
    data: str | None = None  # a miniF2F checkout (its .thy files ship the proofs)
    proofs: int = 20
    memory_checks: int = 500
    session: str | None = None  # None: the smallest built session holding BENCH_IMPORTS
    isabelle: str | None = None
    server: str | None = None  # HOST:PORT of a running server (the address travels separately, with its password)
    all_imports: bool = False  # also proofs importing libraries outside the session's heap
    dsp_proofs: str | None = None  # DSP's human_100_proofs.jsonl(.tar.gz)
    dsp: int = 10  # how many of them, the first by name with at least one automated step
    timeout: float = 300.0  # per check
    verify_timeout: float = 600.0  # per verify


# -------------------------------------------------------------------------------------------------- inputs


def shipped_proofs(
    data: str | Path, count: int, *, all_imports: bool = False, holds: frozenset[str] | None = None
) -> list[BenchmarkProblem]:
    """The first `count` problems (by split, then name) that ship a proof; by default only those whose imports the
    session's heap holds (`holds`; the HOL heap when not given), so a check measures checking, not loading."""
    from isabelle_env.sessions import library_imports

    held = HEAP_IMPORTS if holds is None else holds
    problems = [p for p in load_problems(data) if p.had_shipped_proof]
    if not all_imports:
        problems = [p for p in problems if set(library_imports(p.imports)) <= held]
    problems.sort(key=lambda p: (p.split, p.name))
    if len(problems) < count:
        raise ValueError(
            f"{data} has {len(problems)} shipped proofs{'' if all_imports else ' whose imports the session holds'}, "
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


@dataclass(frozen=True)
class DspCase:
    """One published DSP proof: the problem (its statement under the miniF2F header), the finished theory, the
    sketch the checker gets."""

    name: str
    problem: Any  # isabelle_env.theory_text.ProblemTheory
    finished_theory: str = field(repr=False)
    sketch: str = field(repr=False)
    sites: int = 0


def read_dsp_proofs(path: str | Path) -> list[dict[str, str]]:
    """`{problem_name, proof}` rows from DSP's human_100_proofs.jsonl, plain or as published (.tar.gz)."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(
            f"--dsp-proofs {path} does not exist: pass DSP's human_100_proofs.jsonl.tar.gz (draft_sketch_prove "
            "results/, or shared/datasets/dsp/results/)"
        )
    if path.name.endswith((".tar.gz", ".tgz")):
        with tarfile.open(path) as tar:
            member = next((m for m in tar.getmembers() if m.name.endswith(".jsonl")), None)
            handle = tar.extractfile(member) if member else None
            if handle is None:
                raise ValueError(f"{path} holds no .jsonl file")
            text = handle.read().decode("utf-8")
    else:
        text = path.read_text(encoding="utf-8")
    rows = [json.loads(line) for line in text.splitlines() if line.strip()]
    if not rows or not all(isinstance(r.get("proof"), str) and isinstance(r.get("problem_name"), str) for r in rows):
        raise ValueError(f"{path}: expected JSON lines with `problem_name` and `proof`")
    return rows


def dsp_cases(path: str | Path, count: int, imports: Sequence[str] = BENCH_IMPORTS) -> list[DspCase]:
    """The fixed set: DSP's proofs sorted by name, the first `count` with at least one `(*<ATP>*)` step."""
    from isabelle_env.theory_text import (
        atp_to_sledgehammer,
        find_atp_spans,
        parse_candidate,
        problem_from_statement,
        theory_header,
    )

    cases = []
    for row in sorted(read_dsp_proofs(path), key=lambda r: r["problem_name"]):
        proof = row["proof"].strip()
        sites = len(find_atp_spans(proof))
        if not sites:
            continue
        problem = problem_from_statement(parse_candidate(proof).statement, imports=imports)
        finished = theory_header(problem.theory_name, imports) + "\n" + proof + "\n\nend\n"
        cases.append(DspCase(row["problem_name"], problem, finished, atp_to_sledgehammer(proof), sites))
        if len(cases) == count:
            return cases
    raise ValueError(f"{path} has {len(cases)} proofs with automated steps, fewer than the {count} asked: lower --dsp")


# -------------------------------------------------------------------------------------------------- run


def _session_rss_mb(server: Any) -> float:
    """RSS of every process under the server except the server's own JVM: the sessions' poly processes."""
    import psutil

    if server is None or server.pid is None:
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


def run_isabelle(params: IsabelleParams, *, address: Any = None, workdir: Path | None = None) -> dict[str, Any]:
    """The whole benchmark; `address` (a ServerAddress) to use a running server instead of an installation."""
    import tempfile

    target = find_target(params.isabelle, address)
    if isinstance(target, str):
        return skipped("isabelle", asdict(params), target)
    installation = target
    if params.data is None:
        raise ValueError("no miniF2F data: pass --data PATH (a miniF2F checkout) or set SUBGOALXL_DATA")
    choice = bench_session(params.session, params.isabelle, address)
    problems = shipped_proofs(params.data, params.proofs, all_imports=params.all_imports, holds=_holds(choice))
    cases = dsp_cases(params.dsp_proofs, params.dsp) if params.dsp_proofs else []
    with tempfile.TemporaryDirectory(prefix="subgoalxl-bench-", dir=workdir) as folder:
        paths = write_theories(problems, Path(folder))
        runner = _Runner(params, choice, installation, address, Path(folder))
        warm = runner.warm(paths, cases)
        fresh_session = runner.fresh_session(paths)
        fresh_server = runner.fresh_server(paths) if installation is not None else None
    rates = {
        "warm": _rate(len(paths), warm["checks_s"]),
        "fresh_session": _rate(len(paths), fresh_session["checks_s"]),
        "fresh_server": _rate(len(paths), fresh_server["checks_s"]) if fresh_server else None,
    }
    memory = warm.pop("memory")
    dsp = warm.pop("dsp")
    xs = [m[0] / 100 for m in memory]
    return result(
        "isabelle",
        asdict(params),
        isabelle=str(installation.home) if installation else f"server {address}",
        session=choice.session,
        session_dirs=list(choice.dirs),
        session_missing=list(choice.missing),
        header=list(BENCH_IMPORTS),
        proofs=[p.name for p in problems],
        warm_checks_per_s=round(rates["warm"], 4),
        fresh_session_checks_per_s=round(rates["fresh_session"], 4),
        fresh_server_checks_per_s=round(rates["fresh_server"], 4) if rates["fresh_server"] is not None else None,
        warm_over_fresh_session=_ratio(rates["warm"], rates["fresh_session"]),
        warm_over_fresh_server=_ratio(rates["warm"], rates["fresh_server"]),
        warm=warm,
        fresh_session=fresh_session,
        fresh_server=fresh_server,
        dsp=dsp,
        memory_checks=[m[0] for m in memory],
        session_rss_mb=[round(m[1], 1) for m in memory],
        session_rss_slope_mb_per_100_checks=round(slope(xs, [m[1] for m in memory]), 3) if memory else None,
    )


def find_target(isabelle: str | None, address: Any) -> Any:
    """The installation to start a server from (None with a running server's `address`), or why there is none."""
    from isabelle_env.errors import IsabelleNotFoundError
    from isabelle_env.installation import find_isabelle

    if address is not None:
        return None
    try:
        return find_isabelle(isabelle)
    except IsabelleNotFoundError as exc:
        return f"skipped: this benchmark needs a real Isabelle (or --isabelle-server HOST:PORT). {exc}"


def bench_session(session: str | None, isabelle: str | None, address: Any) -> Any:
    """The session whose heap holds BENCH_IMPORTS (or `session`); refuses one that lacks them unless named."""
    from isabelle_env.session_select import select_session

    choice = select_session(BENCH_IMPORTS, session, isabelle=isabelle, server=address)
    if choice.missing and not choice.overridden:
        raise ValueError(f"{choice.notice()}; or pass --session NAME to measure in it anyway")
    return choice


def _holds(choice: Any) -> frozenset[str] | None:
    """What the chosen session's heap holds; None (the HOL heap) for a session nothing is known of."""
    return choice.holds or None


def _rate(n: int, seconds: float) -> float:
    return n / seconds if seconds else 0.0


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 2) if a and b else None


def dsp_summary(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """verify against the finished proof alone, per proof and over the set (sum over sum, and the median)."""
    finished = sum(r["finished_s"] for r in rows)
    verify = sum(r["verify_s"] for r in rows)
    ratios = [r["verify_s"] / r["finished_s"] for r in rows if r["finished_s"] > 0]
    shown = [{**r, "finished_s": round(r["finished_s"], 4), "verify_s": round(r["verify_s"], 4)} for r in rows]
    return {
        "proofs": shown,
        "finished_ok": sum(r["finished_ok"] for r in rows),
        "proved": sum(r["verdict"] == "proved" for r in rows),
        "finished_s": round(finished, 3),
        "verify_s": round(verify, 3),
        "overhead": round(verify / finished, 2) if finished > 0 else None,
        "median_overhead": round(statistics.median(ratios), 2) if ratios else None,
    }


class _Runner:
    """The contenders, each on the same theories, in the chosen session."""

    def __init__(self, params: IsabelleParams, choice: Any, installation: Any, address: Any, folder: Path):
        from isabelle_env.session_pool import SessionPoolConfig

        self.params, self.installation, self.address, self.folder = params, installation, address, folder
        self.config = SessionPoolConfig(
            session=choice.session, size=1, dirs=choice.dirs, check_timeout=max(params.timeout, params.verify_timeout)
        )

    def _server(self) -> Any:
        """A server we start (the installation) or the running one's address."""
        from isabelle_env.server import IsabelleServer

        return IsabelleServer(self.installation) if self.address is None else None

    def warm(self, paths: Sequence[Path], cases: Sequence[DspCase]) -> dict[str, Any]:
        import contextlib

        from isabelle_env.session_pool import SessionPool
        from isabelle_env.theory_check import check_theory_files

        owned = self._server()
        started = time.perf_counter()
        with contextlib.ExitStack() as stack:
            if owned is not None:
                stack.enter_context(owned)
            pool = stack.enter_context(SessionPool(owned or self.address, self.config))
            startup = time.perf_counter() - started
            check_started = time.perf_counter()
            ok = sum(check_theory_files(pool, [p], timeout=self.params.timeout)[0].ok for p in paths)
            checks_s = time.perf_counter() - check_started
            dsp = dsp_summary([self._dsp_case(pool, case) for case in cases]) if cases else None
            memory = []
            if owned is not None:  # only a server we started has a process tree here to measure
                memory.append((len(paths), _session_rss_mb(owned)))
                done = len(paths)
                while done < self.params.memory_checks and paths:
                    check_theory_files(pool, [paths[done % len(paths)]], timeout=self.params.timeout)
                    done += 1
                    if done % 50 == 0 or done == self.params.memory_checks:
                        memory.append((done, _session_rss_mb(owned)))
        return {"startup_s": round(startup, 3), "checks_s": round(checks_s, 3), "ok": ok, "memory": memory, "dsp": dsp}

    def _dsp_case(self, pool: Any, case: DspCase) -> dict[str, Any]:
        from isabelle_env.checker import CheckerConfig, ProofChecker
        from isabelle_env.theory_check import check_theory_files

        path = self.folder / "dsp" / f"{case.problem.theory_name}.thy"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(case.finished_theory, encoding="utf-8")
        started = time.perf_counter()
        (finished,) = check_theory_files(pool, [path], timeout=self.params.timeout)
        finished_s = time.perf_counter() - started
        checker = ProofChecker(pool, CheckerConfig(proof_timeout=self.params.verify_timeout), cache=None)
        started = time.perf_counter()
        verdict = checker.verify(case.problem, case.sketch)
        verify_s = time.perf_counter() - started
        return {
            "name": case.name,
            "sites": case.sites,
            "finished_ok": finished.ok,
            "finished_s": finished_s,
            "verdict": str(verdict.kind),
            "verify_s": verify_s,
        }

    def fresh_session(self, paths: Sequence[Path]) -> dict[str, Any]:
        """A session started and stopped for every check, on one server."""
        import contextlib

        from isabelle_env.session_pool import SessionPool
        from isabelle_env.theory_check import check_theory_files

        owned = self._server()
        ok = 0
        with contextlib.ExitStack() as stack:
            if owned is not None:
                stack.enter_context(owned)
            started = time.perf_counter()
            for path in paths:
                with SessionPool(owned or self.address, self.config) as pool:
                    ok += check_theory_files(pool, [path], timeout=self.params.timeout)[0].ok
            checks_s = time.perf_counter() - started
        return {"checks_s": round(checks_s, 3), "ok": ok}

    def fresh_server(self, paths: Sequence[Path]) -> dict[str, Any]:
        """A server and a session per check, as the research code starts one JVM per proof."""
        from isabelle_env.server import IsabelleServer
        from isabelle_env.session_pool import SessionPool
        from isabelle_env.theory_check import check_theory_files

        ok = 0
        started = time.perf_counter()
        for path in paths:
            with IsabelleServer(self.installation) as server, SessionPool(server, self.config) as pool:
                ok += check_theory_files(pool, [path], timeout=self.params.timeout)[0].ok
        return {"checks_s": round(time.perf_counter() - started, 3), "ok": ok}


def isabelle_rows(data: dict[str, Any]) -> list[tuple[str, str]]:
    n = len(data["proofs"])
    warm, fresh = data["warm"], data["fresh_session"]
    rows = [
        ("where", f"{data['isabelle']}, session {data['session']}"),
        ("proofs", f"{n} shipped miniF2F proofs"),
        (
            "warm session: checks/s (ok)",
            f"{data['warm_checks_per_s']:.3f} ({warm['ok']}/{n}); start-up {warm['startup_s']} s",
        ),
        ("fresh session per check: checks/s (ok)", f"{data['fresh_session_checks_per_s']:.3f} ({fresh['ok']}/{n})"),
        ("warm / fresh session", f"{data['warm_over_fresh_session']}x"),
    ]
    if data["fresh_server"] is not None:
        rows += [
            (
                "fresh server per check: checks/s (ok)",
                f"{data['fresh_server_checks_per_s']:.3f} ({data['fresh_server']['ok']}/{n})",
            ),
            ("warm / fresh server", f"{data['warm_over_fresh_server']}x"),
        ]
    dsp = data["dsp"]
    if dsp:
        k = len(dsp["proofs"])
        rows += [
            (
                "DSP proofs (finished ok / sketch proved)",
                f"{k} ({dsp['finished_ok']}/{k} ok, {dsp['proved']}/{k} proved)",
            ),
            ("finished proofs alone: total", f"{dsp['finished_s']} s"),
            ("verify of their sketches: total", f"{dsp['verify_s']} s"),
            ("checker overhead: verify / finished", f"{dsp['overhead']}x (median per proof {dsp['median_overhead']}x)"),
        ]
    if data["session_rss_mb"]:
        rows += [
            (
                "session RSS (first -> last sample)",
                f"{data['session_rss_mb'][0]} -> {data['session_rss_mb'][-1]} MB after {data['memory_checks'][-1]} "
                "checks",
            ),
            ("session RSS slope", f"{data['session_rss_slope_mb_per_100_checks']:+.2f} MB per 100 checks"),
        ]
    return rows
