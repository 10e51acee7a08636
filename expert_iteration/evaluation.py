"""Step 7: evaluate the round's generators with the agent (the subgoal prover) on the held-out problems.

One agent run per round (`<loop>-r<N>-eval` in the run store), so the agent's own resumption applies: a killed
evaluation continues where it stopped. With `skip_solved`, problems solved in earlier rounds are not evaluated
again and the union over rounds is what counts. Numbers per round: solved (this round), pass@N with N the attempts
per problem (the share of evaluated problems with a proof among their N attempts; the search stops a problem at its
first proof, so only this budgeted rate is unbiased, not pass@k for k < N), and the union solved so far.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from expert_iteration.config import IterateConfig
from expert_iteration.state import IterationStore


def eval_run_id(loop_id: str, round_: int) -> str:
    return f"{loop_id}-r{round_}-eval"


def solved_before(store: IterationStore, loop_id: str, round_: int) -> set[str]:
    """Problems solved by the evaluations of rounds before `round_`."""
    solved: set[str] = set()
    for row in store.rounds(loop_id):
        if row["round"] < round_:
            solved |= set(row.get("evaluation", {}).get("solved_names", []))
    return solved


def evaluate_round(
    *,
    istore: IterationStore,
    store_path: Path,
    loop_id: str,
    round_: int,
    config: IterateConfig,
    heldout: Sequence[Any],
    heldout_split: str,
    models: dict[str, str],
    server: Any = None,
    ray_address: str | None = None,
    cache_path: str | None = None,
    backend_factory: Callable[[str], Any] | None = None,
    on_progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    from agent.config import GenerationConfig, RunConfig, SearchConfig
    from agent.run import RunMeta, run_search
    from agent.store import RunStore
    from benchmarks.data.problems import ProblemSet

    ev = config.evaluation
    earlier = solved_before(istore, loop_id, round_) if ev.skip_solved else set()
    todo = [p for p in heldout if p.name not in earlier]
    run_id = eval_run_id(loop_id, round_)
    attempts = ev.attempts_per_problem
    solved: set[str] = set()
    status = "nothing to evaluate"
    if todo:
        generation = GenerationConfig(
            backend=config.models.backend,
            statement_model=models["statement"],
            subgoal_model=models["subgoal"],
            proof_model=models["proof"],
            subgoal_samples=ev.subgoal_samples,
            proof_samples=ev.proof_samples,
            temperature=ev.temperature,
            top_p=ev.top_p,
            max_tokens=ev.max_tokens,
            rank_with_scorer=ev.rank_with_scorer,
            actors=ev.actors,
            num_cpus=ev.num_cpus,
            num_gpus=ev.num_gpus,
        )
        run_config = RunConfig(
            search=SearchConfig(
                prover="subgoal",
                attempts_per_problem=attempts,
                problem_timeout_s=ev.problem_timeout_s,
                seed=config.loop.seed + round_,
            ),
            isabelle=config.isabelle,
            checking=config.checking,
            generation=generation,
            scheduling=config.scheduling,
        )
        proposer = None
        if backend_factory is not None:
            from agent.subgoal_proposer import SubgoalProposer

            proposer = SubgoalProposer(generation, backend_factory=backend_factory)

        def progress(stats: Any) -> None:
            if on_progress is not None:
                on_progress(f"solved {stats.solved}/{stats.problems}, attempts {stats.attempts_done}")

        with RunStore(store_path) as store:
            stats = run_search(
                problems=todo,
                config=run_config,
                store=store,
                run_id=run_id,
                meta=RunMeta(f"iterate:{loop_id}", heldout_split, ProblemSet.of(todo, "heldout").fingerprint),
                server=server,
                ray_address=ray_address,
                proposer=proposer,
                on_progress=progress,
                cache_path=cache_path,
            )
            solved = set(store.solutions(run_id))
            status = stats.status
    union = earlier | solved
    names = {p.name for p in heldout}
    return {
        "run_id": run_id if todo else None,
        "status": status,
        "heldout": len(heldout),
        "evaluated": len(todo),
        "skipped_solved": len(heldout) - len(todo),
        "attempts_per_problem": attempts,
        "solved": len(solved),
        "solved_names": sorted(solved),
        f"pass@{attempts}": round(len(solved) / len(todo), 4) if todo else None,
        "union_solved": len(union & names),
        "union_names": sorted(union & names),
        "union_rate": round(len(union & names) / len(heldout), 4) if heldout else 0.0,
        "models": models,
    }
