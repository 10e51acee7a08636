"""The SubgoalXL proposer: (formal statement) -> subgoals -> subgoal-style Isar proof, on generator actors.

One attempt produces one candidate to check. Within an attempt the configured numbers of subgoal lists and
proofs are sampled; with `rank_with_scorer` the posterior scorer picks the best proof, otherwise the first
one that parses is taken. With `autoformalize`, formal statements are sampled first and the first one that
Isabelle accepts (with a `sorry` proof) is the statement the proof is checked against: the proposal then says
it is the model's statement, never the benchmark's, and the search does not count it as solving the problem
(unless the problem has no formal statement of its own, where autoformalization is the only way in).

Each role's prompt template is configurable (`generation.prompts`), e.g. the SubgoalXL release's formats. With
`generation.variants`, attempt i of a problem uses proof variant i mod V (its own model, template(s) and
informal-proof setting), and the variant's k-th attempt uses its k mod n-th template, as the release alternates
its two instructions; every sample and attempt records its variant.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from agent.config import GenerationConfig
from agent.proposers import ProblemLike, Proposal, own_statement
from generators.experts import expert_of
from generators.parsing import parse_proof, theorem_text
from generators.prompt_templates import PromptTemplate, load_prompt
from generators.ray_pool import GeneratorPool, PoolConfig
from generators.roles import Problem, Role, parse_output, render_prompt, role_template
from generators.scoring import Candidate, PosteriorScorer
from isabelle_env.theory_text import TheoryParseError, parse_problem, theory_header

StatementChecker = Callable[[str], dict[str, Any]]


@dataclass(frozen=True)
class _Variant:
    """A resolved proof variant: the pool its model runs on and the templates it alternates."""

    name: str | None
    pool: str
    templates: tuple[PromptTemplate, ...]
    use_informal_proof: bool

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "model": self.pool,
            "prompts": [str(t.ref) for t in self.templates],
            "use_informal_proof": self.use_informal_proof,
        }


def _normalised(text: str) -> str:
    return " ".join(text.split())


class SubgoalProposer:
    name = "subgoal"

    def __init__(
        self,
        config: GenerationConfig,
        *,
        statement_checker: StatementChecker | None = None,
        backend_factory: Callable[[str], Any] | None = None,
        max_in_flight: int | None = None,
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
        self.templates = {role: role_template(role, config.prompts.get(str(role))) for role in Role}
        self.role_models = {role: model for role, model in models.items() if model}
        pool_config = PoolConfig(num_actors=config.actors, num_cpus=config.num_cpus, num_gpus=config.num_gpus)
        self._pools: dict[str, GeneratorPool] = {}
        routed = self._routed_backends()
        for role, factory in routed.items():  # experts behind a router: one pool per role
            self.role_models[role] = f"router:{role}"
            self._pools[f"router:{role}"] = GeneratorPool(factory, pool_config)
        self.variants = self._resolve_variants()
        wanted = {key: self._backend(key, config.base_url) for key in self.role_models.values()}
        for variant, spec in zip(self.variants, config.variants or [None], strict=True):
            wanted.setdefault(variant.pool, self._backend(variant.pool, spec.base_url if spec else None))
        try:
            for key in sorted(set(wanted) - set(self._pools)):
                backend: Any = backend_factory(key) if backend_factory else wanted[key]
                self._pools[key] = GeneratorPool(backend, pool_config)
            for pool in self._pools.values():
                pool.wait_ready()
        except BaseException:
            for pool in self._pools.values():
                pool.close()
            raise
        # enough threads for every generation the search keeps in flight: concurrent requests are batched
        workers = max(2, config.actors * 4, max_in_flight or 0)
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="propose")

    def _resolve_variants(self) -> list[_Variant]:
        cfg = self.config
        proof_pool = self.role_models.get(Role.PROOF)
        if not cfg.variants:
            if proof_pool is None:
                raise ValueError("the subgoal proposer needs a proof model (generation.model or proof_model)")
            return [_Variant(None, proof_pool, (self.templates[Role.PROOF],), cfg.use_informal_proof)]
        variants = []
        for spec in cfg.variants:
            pool = spec.proof_model or proof_pool
            if pool is None:
                raise ValueError(f"generation.variants {spec.name!r} has no proof_model and there is no default")
            if spec.base_url and spec.base_url != cfg.base_url:
                pool = f"{pool}@{spec.base_url}"  # the same model name served elsewhere is another pool
            templates = tuple(role_template(Role.PROOF, p) for p in spec.proof_prompts) or (self.templates[Role.PROOF],)
            informal = cfg.use_informal_proof if spec.use_informal_proof is None else spec.use_informal_proof
            variants.append(_Variant(spec.name, pool, templates, informal))
        return variants

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

    def _backend(self, key: str, base_url: str | None) -> dict[str, Any]:
        model = key.split("@", 1)[0] if base_url else key
        backend: dict[str, Any] = {"kind": self.config.backend, "model": model}
        if self.config.backend == "openai":
            backend["base_url"] = base_url or self.config.base_url
        return backend

    def models(self) -> dict[str, Any]:
        out: dict[str, Any] = {str(role): model for role, model in self.role_models.items()}
        out |= {"backend": self.config.backend, "prompts": {str(r): str(t.ref) for r, t in self.templates.items()}}
        if self.config.variants:
            out["variants"] = [v.describe() for v in self.variants]
        return out

    def propose(self, problem: ProblemLike, attempt_index: int, seed: int) -> Future[Proposal]:
        return self._executor.submit(self._attempt, problem, attempt_index, seed)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
        for pool in self._pools.values():
            pool.close()

    def variant_of(self, attempt_index: int) -> tuple[_Variant, PromptTemplate]:
        """The variant attempt `attempt_index` uses, and its template (the release alternates per sample)."""
        variant = self.variants[attempt_index % len(self.variants)]
        k = attempt_index // len(self.variants)  # the variant's own sample index
        return variant, variant.templates[k % len(variant.templates)]

    # ------------------------------------------------------------------ one attempt
    def _sample(
        self,
        role: Role,
        problem: Problem,
        n: int,
        seed: int,
        stage_samples: list[dict[str, Any]],
        *,
        pool: str | None = None,
        template: PromptTemplate | None = None,
        variant: str | None = None,
    ) -> list[tuple[Any, Any]]:
        """n completions for one role; returns (parse result, rendered prompt) pairs and records samples."""
        cfg = self.config
        model = pool or self.role_models[role]
        template = template or self.templates[role]
        rendered = render_prompt(role, problem, template)
        (completions,) = self._pools[model].generate(
            [rendered.text],
            n=n,
            temperature=cfg.temperature,
            top_p=cfg.top_p,
            max_tokens=cfg.max_tokens,
            stop=list(template.stop),
            seed=seed,
        )
        results = []
        ref = template.ref
        first = sum(1 for s in stage_samples if s["stage"] == str(role))
        for k, completion in enumerate(completions, start=first):
            parsed = parse_output(role, completion.text, problem, completion.finish_reason, template)
            row = self._sample_row(str(role), k, rendered.text, completion, parsed, model, ref, n, seed, variant)
            stage_samples.append(row)
            results.append((parsed, rendered))
        return results

    def _sample_row(
        self,
        stage: str,
        k: int,
        prompt: str,
        completion: Any,
        parsed: Any,
        model: str,
        ref: Any,
        n: int,
        seed: int,
        variant: str | None = None,
    ) -> dict[str, Any]:
        """A samples-table row: the prompt, the completion, what parsing made of it, and full provenance."""
        cfg = self.config
        params: dict[str, Any] = {"temperature": cfg.temperature, "top_p": cfg.top_p, "max_tokens": cfg.max_tokens}
        params |= {"n": n, "request_seed": seed} | ({"variant": variant} if variant else {})
        drawn_with = getattr(completion, "seed", None)
        return {
            "stage": stage,
            "k": k,
            "prompt": prompt,
            "completion": completion.text,
            "parsed": {"value": parsed.value, "problems": parsed.problems}
            | ({"parts": parsed.parts} if parsed.parts else {}),
            "parse_ok": int(parsed.ok),
            "model": expert_of(completion) or model,  # e.g. proof/v1/r2 when routed to an expert
            "backend": cfg.backend,
            "prompt_name": ref.name,
            "prompt_version": f"{ref.version}:{ref.sha256}",
            "params": params,
            "seed": seed if drawn_with is None else drawn_with,  # the seed that draws this sample again
            "prompt_tokens": completion.prompt_tokens,
            "completion_tokens": completion.completion_tokens,
            "finish_reason": completion.finish_reason,
        }

    def _attempt(self, problem: ProblemLike, attempt_index: int, seed: int) -> Proposal:
        cfg = self.config
        samples: list[dict[str, Any]] = []
        variant, proof_template = self.variant_of(attempt_index)
        own = own_statement(problem)
        formal = own
        problem_text: str | None = None
        informal_proof = problem.informal_proof if variant.use_informal_proof else None
        if cfg.autoformalize or own is None:
            if not cfg.autoformalize:
                return self._nothing(problem, attempt_index, samples, variant, "the problem has no formal statement")
            formal, problem_text = self._autoformalize(problem, seed, samples)
            if formal is None:
                return self._nothing(problem, attempt_index, samples, variant, "no generated statement was accepted")
            if own is not None and _normalised(formal) == _normalised(own):
                problem_text = None  # the model wrote the benchmark's own statement: check that theory
        base = Problem(
            problem_name=problem.name,
            informal_statement=problem.informal_statement,
            informal_proof=informal_proof,
            formal_statement=formal,
        )
        subgoal_lists: list[tuple[str, ...] | None] = []
        if cfg.generate_subgoals and problem.informal_statement:
            for parsed, _ in self._sample(Role.SUBGOAL, base, cfg.subgoal_samples, seed, samples, variant=variant.name):
                if parsed.ok and parsed.value:
                    subgoal_lists.append(tuple(parsed.value))
        if not subgoal_lists and not base.missing_for(Role.PROOF, proof_template):
            subgoal_lists.append(None)  # the informal proof's lines stand in, or the template needs none
        if not subgoal_lists:
            return self._nothing(
                problem, attempt_index, samples, variant, "no subgoals could be produced", problem_text, formal
            )
        candidates: list[Candidate] = []
        for j, subgoals in enumerate(subgoal_lists):
            with_subgoals = base.model_copy(update={"subgoals": subgoals})
            for parsed, rendered in self._sample(
                Role.PROOF,
                with_subgoals,
                cfg.proof_samples,
                seed + 7919 * j,
                samples,
                pool=variant.pool,
                template=proof_template,
                variant=variant.name,
            ):
                if parsed.ok and parsed.value:
                    shown = tuple(rendered.subgoals or ()) or _comment_subgoals(parsed)
                    candidates.append(Candidate(formal or "", parsed.value, shown, problem.informal_statement))
        if not candidates:
            return self._nothing(
                problem, attempt_index, samples, variant, "no generated proof could be parsed", problem_text, formal
            )
        best = candidates[0]
        if cfg.rank_with_scorer and len(candidates) > 1:
            scorer = PosteriorScorer(self._pools[variant.pool])
            best = candidates[scorer.rank(candidates)[0][0]]
        return Proposal(
            problem.name,
            attempt_index,
            best.proof,
            samples,
            None,
            problem_text,
            statement=formal,
            variant=variant.name,
        )

    @staticmethod
    def _nothing(
        problem: ProblemLike,
        attempt_index: int,
        samples: list[dict[str, Any]],
        variant: _Variant,
        error: str,
        problem_text: str | None = None,
        statement: str | None = None,
    ) -> Proposal:
        return Proposal(
            problem.name,
            attempt_index,
            None,
            samples,
            error,
            problem_text,
            statement=statement,
            variant=variant.name,
        )

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
        formal = own_statement(problem)
        if formal is None:
            raise ValueError(f"{problem.name} has no formal statement of its own: only its own proofs are repaired")
        template = load_prompt("repair")
        prompt = template.render(formal_statement=formal, failed_proof=candidate, errors=verdict_feedback(verdict))
        variant, _ = self.variant_of(attempt_index)
        model = variant.pool
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
        sample = self._sample_row(
            "repair", round_index, prompt, completion, parsed, model, template.ref, 1, seed, variant.name
        )
        text = parsed.value if parsed.ok else None
        error = None if text else "the repair could not be parsed"
        return Proposal(
            problem.name, attempt_index, text, [sample], error, repair_round=round_index, variant=variant.name
        )

    def _autoformalize(
        self, problem: ProblemLike, seed: int, samples: list[dict[str, Any]]
    ) -> tuple[str | None, str | None]:
        assert self.statement_checker is not None
        if own_statement(problem) is not None:
            header = parse_problem(problem.theory_text)
            name, imports, preamble = header.theory_name, header.imports, header.preamble
        else:  # an informal-only problem: its source gives the imports to state it in
            name, imports, preamble = problem.name, tuple(getattr(problem, "imports", ()) or ("Main",)), ""
        request = Problem(problem_name=problem.name, informal_statement=problem.informal_statement)
        for parsed, _ in self._sample(Role.STATEMENT, request, self.config.statement_samples, seed, samples):
            if not (parsed.ok and parsed.value):
                continue
            theory = _theory_with_statement(name, imports, preamble, parsed.value)
            if theory is None:
                continue
            if self.statement_checker(theory).get("ok"):
                return parsed.value, theory
        return None, None


def _comment_subgoals(parsed: Any) -> tuple[str, ...]:
    """The subgoals a release-format proof wrote in its own comment (for the posterior scorer)."""
    comment = parsed.parts.get("subgoal_proof") if getattr(parsed, "parts", None) else None
    return (comment,) if comment else ()


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
