"""Model-side generators for SubgoalXL: prompts, backends, output parsing, Ray hosting. Treats proofs as text.

Modules (none imports torch, transformers, vllm, openai or ray at import time):
`prompt_templates` (versioned prompt files in `prompts/`), `roles` (statement / subgoal / proof),
`parsing` (pull statements, subgoals and proofs out of completions, with the project's one lexer: the pure-text
`isabelle_env.syntax`, never an Isabelle process), `backend` (the
interface and its data types), `backends` (transformers, vLLM, OpenAI-compatible HTTP), `samples` (problems
in, JSONL samples with provenance out), `scoring` (the posterior scorer), `ray_pool` (actors and a pool).
"""
