"""Salvage on DSP's published proofs, side by side in one run: how many broken proofs each mode closes.

DSP's 200 human-informal proofs (`human_100_proofs.jsonl.tar.gz`) mark every step automation closed with
`(*<ATP>*) ... (*</ATP>*)`. Each such span is replaced by a method that fails (`by (simp only:)` by default), so
every proof is broken exactly where automation was needed, and each broken proof is verified three ways in the same
warm session, the check cache off:
  - salvage off (`salvage_depth = 0`): the proof as written, which fails;
  - gaps filled (`salvage_depth = 1`): each failing step becomes a gap, closed by try0, tactics and Sledgehammer;
  - with coarsening (`salvage_depth` = `--depth`, default 3): gaps nothing closes give way to their block.
Reported per mode: proofs closed, and the checker's wall-clock time per closed proof. Needs a real Isabelle (an
installation, or `--isabelle-server`); skips with a message without one.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import asdict, dataclass
from typing import Any

from benchmarks.perf.common import result, skipped
from benchmarks.perf.isabelle import BENCH_IMPORTS, bench_session, find_target, read_dsp_proofs

BROKEN = "by (simp only:)"


@dataclass(frozen=True)
class SalvageParams:
    dsp_proofs: str | None = None  # DSP's human_100_proofs.jsonl(.tar.gz)
    limit: int = 200
    broken: str = BROKEN  # what replaces each automated step
    depth: int = 3  # salvage_depth of the coarsening mode
    session: str | None = None
    isabelle: str | None = None
    server: str | None = None
    tactic_timeout: float = 10.0
    sledgehammer: bool = True
    sledgehammer_timeout: float = 30.0
    proof_timeout: float = 300.0


@dataclass(frozen=True)
class BrokenProof:
    name: str
    problem: Any  # ProblemTheory under the miniF2F header
    candidate: str
    steps: int  # automated steps broken


def broken_proofs(path: str, limit: int, broken: str = BROKEN) -> list[BrokenProof]:
    """DSP's proofs by name, each ATP span replaced by `broken` (proofs without one are left out)."""
    from isabelle_env.theory_text import find_atp_spans, parse_candidate, problem_from_statement

    out = []
    for row in sorted(read_dsp_proofs(path), key=lambda r: r["problem_name"]):
        proof = row["proof"].strip()
        spans = find_atp_spans(proof)
        if not spans:
            continue
        text, pos = [], 0
        for span in spans:
            text += [proof[pos : span.start], broken]
            pos = span.end
        candidate = "".join(text) + proof[pos:]
        problem = problem_from_statement(parse_candidate(proof).statement, imports=BENCH_IMPORTS)
        out.append(BrokenProof(row["problem_name"], problem, candidate, len(spans)))
        if len(out) == limit:
            break
    return out


MODES = (("off", 0), ("gaps", 1))


def run_salvage(params: SalvageParams, *, address: Any = None) -> dict[str, Any]:
    """The whole benchmark; `address` (a ServerAddress) to use a running server instead of an installation."""
    import contextlib

    from isabelle_env.checker import CheckerConfig, ProofChecker
    from isabelle_env.server import IsabelleServer
    from isabelle_env.session_pool import SessionPool, SessionPoolConfig

    target = find_target(params.isabelle, address)
    if isinstance(target, str):
        return skipped("salvage", asdict(params), target)
    installation = target
    if params.dsp_proofs is None:
        raise ValueError("no DSP proofs: pass --dsp-proofs PATH (shared/datasets/dsp/results/human_100_proofs...)")
    if params.depth < 2:
        raise ValueError(f"--depth {params.depth}: the coarsening mode needs salvage_depth 2 or more")
    proofs = broken_proofs(params.dsp_proofs, params.limit, params.broken)
    choice = bench_session(params.session, params.isabelle, address)
    pool_config = SessionPoolConfig(
        session=choice.session, size=1, dirs=choice.dirs, check_timeout=params.proof_timeout + 60
    )
    modes = (*MODES, (f"coarsening:{params.depth}", params.depth))
    rows: dict[str, list[dict[str, Any]]] = {name: [] for name, _ in modes}
    with contextlib.ExitStack() as stack:
        server = stack.enter_context(IsabelleServer(installation)) if installation is not None else None
        pool = stack.enter_context(SessionPool(server or address, pool_config))
        for proof in proofs:  # every mode on one proof before the next: the machine's load drifts alike for all
            for name, depth in modes:
                config = CheckerConfig(
                    tactic_timeout=params.tactic_timeout,
                    sledgehammer=params.sledgehammer,
                    sledgehammer_timeout=params.sledgehammer_timeout,
                    proof_timeout=params.proof_timeout,
                    salvage_depth=depth,
                )
                started = time.perf_counter()
                verdict = ProofChecker(pool, config, cache=None).verify(proof.problem, proof.candidate)
                rows[name].append(
                    {
                        "name": proof.name,
                        "steps": proof.steps,
                        "verdict": str(verdict.kind),
                        "salvage": verdict.salvage,
                        "seconds": round(time.perf_counter() - started, 3),
                        "round_trips": verdict.round_trips,
                    }
                )
    summary = {name: salvage_summary(mode_rows) for name, mode_rows in rows.items()}
    return result(
        "salvage",
        asdict(params),
        isabelle=str(installation.home) if installation else f"server {address}",
        session=choice.session,
        header=list(BENCH_IMPORTS),
        proofs=len(proofs),
        broken_steps=sum(p.steps for p in proofs),
        modes=summary,
        rows=rows,
    )


def salvage_summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Closed proofs, how they were obtained, and the Isabelle time per closed proof (mean and median)."""
    closed = [r for r in rows if r["verdict"] == "proved"]
    seconds = [r["seconds"] for r in closed]
    by_path: dict[str, int] = {}
    for r in closed:
        by_path[r["salvage"]] = by_path.get(r["salvage"], 0) + 1
    return {
        "closed": len(closed),
        "of": len(rows),
        "by_path": by_path,
        "seconds_per_closed": round(sum(seconds) / len(seconds), 3) if seconds else None,
        "median_seconds_per_closed": round(statistics.median(seconds), 3) if seconds else None,
        "total_seconds": round(sum(r["seconds"] for r in rows), 3),
    }


def salvage_rows(data: dict[str, Any]) -> list[tuple[str, str]]:
    """The table `subgoalxl bench salvage` prints."""
    if data.get("skipped"):
        return [("skipped", data["reason"])]
    out = [("proofs (broken steps)", f"{data['proofs']} ({data['broken_steps']})"), ("session", data["session"])]
    for name, mode in data["modes"].items():
        per = mode["seconds_per_closed"]
        paths = ", ".join(f"{k} {v}" for k, v in sorted(mode["by_path"].items())) or "-"
        out.append((f"{name}: closed", f"{mode['closed']}/{mode['of']} ({paths})"))
        out.append((f"{name}: s per closed proof", f"{per}" if per is not None else "-"))
    return out
