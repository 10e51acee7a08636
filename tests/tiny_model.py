"""A tiny causal LM for tests, built on the spot: nothing is downloaded, and it loads like any local model.

A byte-level BPE tokenizer is trained on DSP/miniF2F text and the prompt templates (milliseconds), and a
2-layer Llama with hidden size 64 is initialised from a config (~100k parameters), then both are saved with
`save_pretrained`, so backends load them through the same `from_pretrained` path as a real model.
`fine_tune` memorises a text in a few dozen steps, which turns "the model prefers this text" into a test.
"""

from __future__ import annotations

import json
import os
import tarfile
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import pytest

VOCAB_SIZE = 512

#: a short proof prompt (the real ones are ~2k tokens, too long to memorise in a second) and what the tuned
#: model learns to answer to it
MINI_PROOF_TEMPLATE = """name: mini_proof
version: 1
description: a two-section proof prompt for tests
stop: ["\\n###"]
---
### Formal statement
{{formal_statement}}

### Formal proof
{{formal_statement}}
"""
MINI_STATEMENT = 'theorem t:\n  fixes a :: real\n  shows "10 * a \\<le> 28 * a^2 + 1"'
MINI_PROOF = (
    "proof -\n"
    "  (* Step 1: complete the square *)\n"
    '  have c1: "28 * a^2 - 10 * a + 1 = 28 * (a - 5/28)^2 + 3/28"\n'
    "    sledgehammer\n"
    "  show ?thesis\n"
    "    using c1 sledgehammer\n"
    "qed"
)


def corpus(shared: Path | None = None, rows: int = 300) -> list[str]:
    """A few hundred texts in the project's domain: DSP statements, informal proofs, Isar proofs, our prompts."""
    if shared is None:
        from tests.conftest import shared_dir  # here, so conftest may import this module's fixtures

        shared = shared_dir()
    texts: list[str] = []
    with open(shared / "datasets/dsp/new_complete_mini.jsonl", encoding="utf-8") as f:
        for line, _ in zip(f, range(rows), strict=False):
            row = json.loads(line)
            texts += [row["informal_statement"], row["informal_proof"], row["formal_statement"]]
    with tarfile.open(shared / "datasets/dsp/results/human_100_proofs.jsonl.tar.gz") as tar:
        member = next(m for m in tar.getmembers() if m.name.endswith(".jsonl"))
        data = tar.extractfile(member).read().decode()
    texts += [json.loads(line)["proof"] for line in data.splitlines()[:rows]]
    from generators.prompt_templates import available_prompts, load_prompt

    texts += [load_prompt(name).body for name in available_prompts()]
    return texts


def build_tokenizer(texts: list[str]):  # noqa: ANN201 - PreTrainedTokenizerFast
    from benchmarks.perf.tiny_lm import build_tokenizer as build

    return build(texts, VOCAB_SIZE)


def build_tiny_model(path: Path, texts: list[str] | None = None, seed: int = 0) -> Path:
    """Save a tokenizer and a randomly initialised 2-layer Llama (hidden size 64) under `path`; return `path`."""
    from benchmarks.perf.tiny_lm import build_tiny_lm

    return build_tiny_lm(path, texts if texts is not None else corpus(), vocab_size=VOCAB_SIZE, seed=seed)


def fine_tune(source: Path, target: Path, text: str, steps: int = 40, lr: float = 3e-3) -> Path:
    """Train the model at `source` on one text (plain torch loop) and save it to `target`: it memorises it."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(source, local_files_only=True)
    ids = tokenizer(text + tokenizer.eos_token, return_tensors="pt").input_ids
    optimiser = torch.optim.AdamW(model.parameters(), lr=lr)
    model.train()
    torch.manual_seed(0)
    for _ in range(steps):
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        optimiser.step()
        optimiser.zero_grad()
    model.eval()
    model.save_pretrained(target)
    tokenizer.save_pretrained(target)
    return target


def mini_prompt() -> str:
    from generators.prompt_templates import PromptTemplate

    return PromptTemplate.parse(MINI_PROOF_TEMPLATE).render(formal_statement=MINI_STATEMENT)


#: built once per session even when several test modules import the fixtures (each import is its own FixtureDef)
_BUILT: dict[str, Path] = {}


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A randomly initialised tiny model directory, shared by the whole session."""
    if "tiny" not in _BUILT:
        _BUILT["tiny"] = build_tiny_model(tmp_path_factory.mktemp("tiny-model"))
    return _BUILT["tiny"]


@pytest.fixture(scope="session")
def tuned_model_dir(tiny_model_dir, tmp_path_factory) -> Path:
    """The tiny model after 100 steps on `mini_prompt() + MINI_PROOF` (~1 s): greedy decoding recites MINI_PROOF."""
    if "tuned" not in _BUILT:
        text = mini_prompt() + MINI_PROOF + "\n\n### Formal statement\n"
        _BUILT["tuned"] = fine_tune(tiny_model_dir, tmp_path_factory.mktemp("tuned-model"), text, steps=100, lr=1e-2)
    return _BUILT["tuned"]
