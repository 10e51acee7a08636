"""Model-side generators for SubgoalXL: prompts, backends, output parsing, Ray hosting. Treats proofs as text.

Modules (none imports torch, transformers, vllm, openai or ray at import time):
`prompt_templates` (versioned prompt files in `prompts/`), `roles` (statement / subgoal / proof),
`parsing` and `isar_scan` (pull statements, subgoals and proofs out of completions), `backend` (the
interface and its data types), `backends` (transformers, vLLM, OpenAI-compatible HTTP), `samples` (problems
in, JSONL samples with provenance out), `scoring` (the posterior scorer), `ray_pool` (actors and a pool).
"""
