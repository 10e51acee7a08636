"""The SubgoalXL proposer: (formal statement) -> subgoals -> subgoal-style Isar proof, on generator actors.

One attempt produces one candidate to check. Within an attempt the configured numbers of subgoal lists and
proofs are sampled; with `rank_with_scorer` the posterior scorer picks the best proof, otherwise the first
one that parses is taken. With `autoformalize`, formal statements are sampled first and the first one that
Isabelle accepts (with a `sorry` proof) is the statement the proof is checked against.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from agent.config import GenerationConfig
from agent.proposers import ProblemLike, Proposal
from generators.experts import expert_of
from generators.parsing import parse_proof, theorem_text
from generators.prompt_templates import load_prompt
from generators.ray_pool import GeneratorPool, PoolConfig
from generators.roles import Problem, Role, parse_output, render_prompt
from generators.scoring import Candidate, PosteriorScorer
from isabelle_env.theory_text import TheoryParseError, parse_problem, theory_header

StatementChecker = Callable[[str], dict[str, Any]]


class SubgoalProposer:
    name = "subgoal"

    def __init__(
        self,
        config: GenerationConfig,
        *,
        statement_checker: StatementChecker | None = None,
        backend_factory: Callable[[str], Any] | None = None,
    ):
        self.config = config
        self.statement_checker = statement_checker
        models = {
            Role.STATEMENT: config.statement_model or config.model,
            Role.SUBGOAL: config.subgoal_model or config.model,
            Role.PROOF: config.proof_model or config.model,
        }
        if config.autoformalize and not models[Role.STATEMENT]:
            raise ValueError("generation.autoformalize needs generation.model or generation.statement_model")
        if config.autoformalize and statement_checker is None:
            raise ValueError("autoformalization needs a statement checker (Isabelle) to validate statements")
        self.role_models = {role: model for role, model in models.items() if model}
        pool_config = PoolConfig(num_actors=config.actors, num_cpus=config.num_cpus, num_gpus=config.num_gpus)
        self._pools: dict[str, GeneratorPool] = {}
        routed = self._routed_backends()
        for role, factory in routed.items():  # experts behind a router: one pool per role
            self.role_models[role] = f"router:{role}"
            self._pools[f"router:{role}"] = GeneratorPool(factory, pool_config)
        for model in sorted(set(self.role_models.values()) - set(self._pools)):
            backend: Any = backend_factory(model) if backend_factory else self._backend(model)
            self._pools[model] = GeneratorPool(backend, pool_config)
        for pool in self._pools.values():
            pool.wait_ready()
        self._executor = ThreadPoolExecutor(max_workers=max(2, config.actors * 4), thread_name_prefix="propose")

    def _routed_backends(self) -> dict[Role, Any]:
        if not self.config.routers:
            return {}
        from generators.experts import ExpertSet
        from generators.experts_serving import routed_backend_factory

        assert self.config.experts_file is not None
        experts = ExpertSet.from_toml(self.config.experts_file)
        options = {"base_url": self.config.base_url} if self.config.backend == "openai" else {}
        serving = {"backend": self.config.backend, "options": options}
        return {
            Role(role): routed_backend_factory(experts, serving, router) for role, router in self.config.routers.items()
        }

    def _backend(self, model: str) -> dict[str, Any]:
        backend: dict[str, Any] = {"kind": self.config.backend, "model": model}
        if self.config.backend == "openai":
            backend["base_url"] = self.config.base_url
        return backend

    def models(self) -> dict[str, Any]:
        return {str(role): model for role, model in self.role_models.items()} | {"backend": self.config.backend}

    def propose(self, problem: ProblemLike, attempt_index: int, seed: int) -> Future[Proposal]:
        return self._executor.submit(self._attempt, problem, attempt_index, seed)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
        for pool in self._pools.values():
            pool.close()

    # ------------------------------------------------------------------ one attempt
    def _sample(
        self, role: Role, problem: Problem, n: int, seed: int, stage_samples: list[dict[str, Any]]
    ) -> list[tuple[Any, Any]]:
        """n completions for one role; returns (parse result, rendered prompt) pairs and records samples."""
        cfg = self.config
        model = self.role_models[role]
        rendered = render_prompt(role, problem)
        (completions,) = self._pools[model].generate(
            [rendered.text],
            n=n,
            temperature=cfg.temperature,
            top_p=cfg.top_p,
            max_tokens=cfg.max_tokens,
            stop=list(rendered.template.stop),
            seed=seed,
        )
        results = []
        ref = rendered.template.ref
        first = sum(1 for s in stage_samples if s["stage"] == str(role))
        for k, completion in enumerate(completions, start=first):
            parsed = parse_output(role, completion.text, problem, completion.finish_reason)
            row = self._sample_row(str(role), k, rendered.text, completion, parsed, model, ref, n, seed)
            stage_samples.append(row)
            results.append((parsed, rendered))
        return results

    def _sample_row(
        self, stage: str, k: int, prompt: str, completion: Any, parsed: Any, model: str, ref: Any, n: int, seed: int
    ) -> dict[str, Any]:
        """A samples-table row: the prompt, the completion, what parsing made of it, and full provenance."""
        cfg = self.config
        return {
            "stage": stage,
            "k": k,
            "prompt": prompt,
            "completion": completion.text,
            "parsed": {"value": parsed.value, "problems": parsed.problems},
            "parse_ok": int(parsed.ok),
            "model": expert_of(completion) or model,  # e.g. proof/v1/r2 when routed to an expert
            "backend": cfg.backend,
            "prompt_name": ref.name,
            "prompt_version": f"{ref.version}:{ref.sha256}",
            "params": {"temperature": cfg.temperature, "top_p": cfg.top_p, "max_tokens": cfg.max_tokens, "n": n},
            "seed": seed,
            "prompt_tokens": completion.prompt_tokens,
            "completion_tokens": completion.completion_tokens,
            "finish_reason": completion.finish_reason,
        }

    def _attempt(self, problem: ProblemLike, attempt_index: int, seed: int) -> Proposal:
        cfg = self.config
        samples: list[dict[str, Any]] = []
        formal = problem.formal_statement or parse_problem(problem.theory_text).statement
        problem_text: str | None = None
        informal_proof = problem.informal_proof if cfg.use_informal_proof else None
        if cfg.autoformalize:
            formal, problem_text = self._autoformalize(problem, seed, samples)
            if formal is None:
                return Proposal(problem.name, attempt_index, None, samples, "no generated statement was accepted")
        base = Problem(
            problem_name=problem.name,
            informal_statement=problem.informal_statement,
            informal_proof=informal_proof,
            formal_statement=formal,
        )
        subgoal_lists: list[tuple[str, ...] | None] = []
        if problem.informal_statement:
            for parsed, _ in self._sample(Role.SUBGOAL, base, cfg.subgoal_samples, seed, samples):
                if parsed.ok and parsed.value:
                    subgoal_lists.append(tuple(parsed.value))
        if not subgoal_lists and (informal_proof or "").strip():
            subgoal_lists.append(None)  # the proof prompt falls back to the informal proof's lines
        if not subgoal_lists:
            return Proposal(problem.name, attempt_index, None, samples, "no subgoals could be produced", problem_text)
        candidates: list[Candidate] = []
        for j, subgoals in enumerate(subgoal_lists):
            with_subgoals = base.model_copy(update={"subgoals": subgoals})
            for parsed, rendered in self._sample(
                Role.PROOF, with_subgoals, cfg.proof_samples, seed + 7919 * j, samples
            ):
                if parsed.ok and parsed.value:
                    candidates.append(
                        Candidate(
                            formal or "", parsed.value, tuple(rendered.subgoals or ()), problem.informal_statement
                        )
                    )
        if not candidates:
            return Proposal(
                problem.name, attempt_index, None, samples, "no generated proof could be parsed", problem_text
            )
        best = candidates[0]
        if cfg.rank_with_scorer and len(candidates) > 1:
            scorer = PosteriorScorer(self._pools[self.role_models[Role.PROOF]])
            best = candidates[scorer.rank(candidates)[0][0]]
        return Proposal(problem.name, attempt_index, best.proof, samples, None, problem_text)

    def repair(
        self,
        problem: ProblemLike,
        attempt_index: int,
        round_index: int,
        candidate: str,
        verdict: dict[str, Any],
        seed: int,
    ) -> Future[Proposal]:
        """A new proof for a rejected one, from Isabelle's messages (repair round `round_index`, from 1)."""
        return self._executor.submit(self._repair, problem, attempt_index, round_index, candidate, verdict, seed)

    def _repair(
        self,
        problem: ProblemLike,
        attempt_index: int,
        round_index: int,
        candidate: str,
        verdict: dict[str, Any],
        seed: int,
    ) -> Proposal:
        cfg = self.config
        formal = problem.formal_statement or parse_problem(problem.theory_text).statement
        template = load_prompt("repair")
        prompt = template.render(formal_statement=formal, failed_proof=candidate, errors=verdict_feedback(verdict))
        model = self.role_models[Role.PROOF]
        (completions,) = self._pools[model].generate(
            [prompt],
            n=1,
            temperature=cfg.temperature,
            top_p=cfg.top_p,
            max_tokens=cfg.max_tokens,
            stop=list(template.stop),
            seed=seed + 104729 * round_index,
        )
        completion = completions[0]
        parsed = parse_proof(completion.text, formal, completion.finish_reason)
        sample = self._sample_row("repair", round_index, prompt, completion, parsed, model, template.ref, 1, seed)
        text = parsed.value if parsed.ok else None
        error = None if text else "the repair could not be parsed"
        return Proposal(problem.name, attempt_index, text, [sample], error, repair_round=round_index)

    def _autoformalize(
        self, problem: ProblemLike, seed: int, samples: list[dict[str, Any]]
    ) -> tuple[str | None, str | None]:
        assert self.statement_checker is not None
        header = parse_problem(problem.theory_text)
        request = Problem(problem_name=problem.name, informal_statement=problem.informal_statement)
        for parsed, _ in self._sample(Role.STATEMENT, request, self.config.statement_samples, seed, samples):
            if not (parsed.ok and parsed.value):
                continue
            theory = _theory_with_statement(header.theory_name, header.imports, header.preamble, parsed.value)
            if theory is None:
                continue
            if self.statement_checker(theory).get("ok"):
                return parsed.value, theory
        return None, None


def _theory_with_statement(name: str, imports: tuple[str, ...], preamble: str, statement: str) -> str | None:
    text = f"{theory_header(name, imports)}\n{preamble}\n\n{theorem_text(statement, 'sorry')}\nend\n"
    try:
        parse_problem(text)
    except TheoryParseError:
        return None
    return text


def verdict_feedback(verdict: dict[str, Any]) -> str:
    """What Isabelle (or the audit) said about a proof, as lines a model can act on."""
    lines = []
    for finding in verdict.get("findings", []):
        lines.append(f"line {finding['line']}: {finding['message']}")
    for step in verdict.get("steps", []):
        if not step.get("closed_by"):
            tried = ", ".join(step.get("tried", [])[:6])
            lines.append(f"line {step['line']}: no tactic closed this step (tried: {tried})")
    for message in verdict.get("messages", []):
        where = f"line {message['line']}" if message.get("line") is not None else "(no position)"
        lines.append(f"{where}: {' '.join(str(message['text']).split())[:400]}")
    return "\n".join(lines) or verdict.get("reason", "Isabelle did not accept the proof")
