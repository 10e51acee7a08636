"""A tiny causal LM built on the spot for CPU benchmarks: nothing downloaded, loaded like any local model.

A byte-level BPE tokenizer is trained on the shipped prompt templates and synthetic statements (milliseconds), a
randomly initialised Llama (default: 2 layers, hidden size 64) is saved beside it with `save_pretrained`, so the
backends load it through the same `from_pretrained` path as a real checkpoint. Untrained: it writes noise, which
is all a throughput measurement needs.
"""

from __future__ import annotations

from pathlib import Path

SPECIAL = {"bos_token": "<s>", "eos_token": "</s>", "pad_token": "<pad>", "unk_token": "<unk>"}


def _corpus() -> list[str]:
    from benchmarks.perf.synthetic import synthetic_candidate, synthetic_problem
    from generators.prompt_templates import available_prompts, load_prompt

    texts = [load_prompt(name).body for name in available_prompts()]
    texts += [synthetic_problem(i).formal_statement for i in range(50)]
    texts += [synthetic_candidate(i) for i in range(50)]
    return texts


def build_tokenizer(texts: list[str], vocab_size: int = 512):  # noqa: ANN201 - PreTrainedTokenizerFast
    """A byte-level BPE tokenizer trained on `texts` (milliseconds)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token=SPECIAL["unk_token"]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL.values()),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, **SPECIAL)


def build_tiny_lm(
    path: Path,
    texts: list[str] | None = None,
    *,
    hidden_size: int = 64,
    layers: int = 2,
    vocab_size: int = 512,
    seed: int = 0,
) -> Path:
    """Save a tokenizer (trained on `texts`, by default the prompts and synthetic problems) and a random Llama
    under `path` (created); return `path`."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    tokenizer = build_tokenizer(texts if texts is not None else _corpus(), vocab_size)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=2 * hidden_size,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=4096,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path
