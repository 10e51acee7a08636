"""Benchmark: how long it takes to switch generator experts, LoRA adapter swap vs loading a full model.

    python -m benchmarks.expert_switch [--json] [--sizes tiny,small] [--repeats 5] [--real-model DIR]

For each model size, in one run: a base model, two LoRA experts over it, and a full fine-tune (the first
adapter merged into the base) are built on the spot (random weights: timing does not depend on them). Then,
median over `--repeats`:

- full load: build a transformers backend for the other full model (tokenizer + weights from disk);
- adapter load: load one more adapter into a running backend (once per expert, not per switch);
- adapter switch: `set_adapter` to the other adapter;
- generate: one greedy generation of `--tokens` tokens right after the switch, on each path.

It prints the table and the ratios full-load / adapter-switch and (full-load + generate) / (switch + generate),
and the memory N experts take as full models vs one base + N adapters. `--real-model DIR` repeats the
measurement on a real model on the GPU; without a GPU it is skipped with a message.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")  # a busy machine makes torch's default OpenMP spin 30-60x slower
os.environ.setdefault("HF_HUB_OFFLINE", "1")

#: Llama shapes: tiny = the test model (~0.1 M parameters); small (~25 M) shows how full loads grow with size
SIZES: dict[str, dict[str, int]] = {
    "tiny": {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4},
    "small": {"hidden_size": 512, "intermediate_size": 1376, "num_hidden_layers": 8, "num_attention_heads": 8},
}
LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj"]
PROMPT = 'theorem t:\n  fixes a :: real\n  shows "10 * a \\<le> 28 * a^2 + 1"\nproof -\n'


def _quiet() -> None:
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()


def build_tokenizer(vocab_size: int = 512) -> Any:
    """A byte-level BPE trained on the shipped prompt templates (Isabelle text; milliseconds)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    from generators.prompt_templates import available_prompts, load_prompt

    special = {"bos_token": "<s>", "eos_token": "</s>", "pad_token": "<pad>", "unk_token": "<unk>"}
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(special.values()),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator([load_prompt(name).body for name in available_prompts()], trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, **special)


def build_experts(root: Path, size: str, seed: int = 0) -> dict[str, Any]:
    """base/, full/ (adapter a merged in: a full fine-tune) and adapters a/, b/ under `root`."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = build_tokenizer()
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        num_key_value_heads=SIZES[size]["num_attention_heads"],
        max_position_embeddings=2048,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
        **SIZES[size],
    )
    torch.manual_seed(seed)
    base = LlamaForCausalLM(config)
    paths = {"base": root / "base", "full": root / "full", "adapters": [root / "a", root / "b"]}
    base.save_pretrained(paths["base"])
    tokenizer.save_pretrained(paths["base"])
    for k, path in enumerate(paths["adapters"]):
        torch.manual_seed(seed + 1 + k)
        lora = LoraConfig(r=8, lora_alpha=16, target_modules=LORA_TARGETS, init_lora_weights=False)
        model = get_peft_model(LlamaForCausalLM.from_pretrained(paths["base"]), lora)
        model.save_pretrained(path)
        if k == 0:
            merged = model.merge_and_unload()
            merged.save_pretrained(paths["full"])
            tokenizer.save_pretrained(paths["full"])
    paths["parameters"] = sum(p.numel() for p in base.parameters())
    return paths


def _median_s(fn: Callable[[int], object], repeats: int) -> float:
    times = []
    for k in range(repeats):
        started = time.perf_counter()
        fn(k)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _folder_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file()) / 1e6


def measure(
    base: Path, full: Path, adapters: list[Path], *, device: str, repeats: int, tokens: int
) -> dict[str, float]:
    """Switch costs (seconds, medians) for one base model, its two adapters and one full fine-tune."""
    from generators.backend import SamplingParams
    from generators.backends import TransformersConfig, make_backend

    params = SamplingParams(temperature=0, max_tokens=tokens)
    dtype = "float32" if device == "cpu" else "bfloat16"
    full_configs = [TransformersConfig(model=str(m), device=device, dtype=dtype) for m in (base, full)]
    make_backend(full_configs[0]).close()  # warm the imports and the page cache once, for both paths alike

    def full_load(k: int) -> None:
        make_backend(full_configs[k % 2]).close()

    full_load_s = _median_s(full_load, repeats)
    with make_backend(full_configs[1]) as loaded:
        loaded.generate_with([PROMPT], params)  # warm-up
        full_generate_s = _median_s(lambda _: loaded.generate_with([PROMPT], params), repeats)

    adapters_config = {"a": str(adapters[0]), "b": str(adapters[1])}
    config = TransformersConfig(model=str(base), device=device, dtype=dtype, adapters=adapters_config)
    with make_backend(config) as backend:

        def adapter_load(k: int) -> None:
            backend.load_adapter(f"extra{k}", str(adapters[k % 2]))

        adapter_load_s = _median_s(adapter_load, repeats)
        names = ["a", "b"]

        def switch(k: int) -> None:
            with backend._lock, backend._on_adapter(names[k % 2]):
                pass

        switch(1)
        adapter_switch_s = _median_s(switch, repeats * 4)
        backend._generate_adapter([PROMPT], params, "a")  # warm-up

        def switch_and_generate(k: int) -> None:
            backend._generate_adapter([PROMPT], params, names[(k + 1) % 2])  # "a" is active: start with "b"

        switches_before = backend.adapter_switches
        adapter_generate_s = _median_s(switch_and_generate, repeats)
        assert backend.adapter_switches - switches_before == repeats, "every call should have switched adapter"
    return {
        "full_load_s": full_load_s,
        "adapter_load_s": adapter_load_s,
        "adapter_switch_s": adapter_switch_s,
        "full_generate_s": full_generate_s,
        "adapter_switch_generate_s": adapter_generate_s,
        "full_model_mb": _folder_mb(full),
        "adapter_mb": _folder_mb(adapters[0]),
    }


def _ratios(row: dict[str, Any], experts: int) -> dict[str, Any]:
    row["load_over_switch"] = row["full_load_s"] / max(row["adapter_switch_s"], 1e-9)
    row["load_over_adapter_load"] = row["full_load_s"] / max(row["adapter_load_s"], 1e-9)
    row["switch_generate_ratio"] = (row["full_load_s"] + row["full_generate_s"]) / row["adapter_switch_generate_s"]
    row["experts"] = experts
    row["memory_full_mb"] = experts * row["full_model_mb"]
    row["memory_lora_mb"] = row["full_model_mb"] + experts * row["adapter_mb"]
    return row


def run(sizes: list[str], repeats: int, tokens: int, real_model: str | None, experts: int = 4) -> dict[str, Any]:
    _quiet()
    results: dict[str, Any] = {"device": "cpu", "repeats": repeats, "tokens": tokens, "sizes": {}}
    with tempfile.TemporaryDirectory(prefix="expert-switch-") as tmp:
        for size in sizes:
            paths = build_experts(Path(tmp) / size, size)
            row = measure(paths["base"], paths["full"], paths["adapters"], device="cpu", repeats=repeats, tokens=tokens)
            results["sizes"][size] = _ratios({"parameters": paths["parameters"], **row}, experts)
        results["real_model"] = measure_real(real_model, Path(tmp), repeats, tokens, experts)
    return results


def measure_real(model: str | None, tmp: Path, repeats: int, tokens: int, experts: int) -> dict[str, Any]:
    """The same on a real model on the GPU: two random LoRA adapters over it; the full load reloads it."""
    if model is None:
        return {"skipped": "no --real-model DIR given"}
    import torch

    if not torch.cuda.is_available():
        return {"skipped": f"no GPU here: run `python -m benchmarks.expert_switch --real-model {model}` on a GPU host"}
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    adapters = []
    for k in range(2):
        torch.manual_seed(k + 1)
        lora = LoraConfig(r=16, lora_alpha=32, target_modules=LORA_TARGETS, init_lora_weights=False)
        peft_model = get_peft_model(AutoModelForCausalLM.from_pretrained(model, dtype=torch.bfloat16), lora)
        peft_model.save_pretrained(tmp / f"real-{k}")
        adapters.append(tmp / f"real-{k}")
        del peft_model
    row = measure(Path(model), Path(model), adapters, device="cuda", repeats=repeats, tokens=tokens)
    return _ratios({"model": model, **row}, experts)


def format_table(results: dict[str, Any]) -> str:
    rows = dict(results["sizes"])
    if "skipped" not in results["real_model"]:
        rows["real"] = results["real_model"]
    lines = [
        f"{'model':<8} {'params':>10} {'full load':>10} {'adapter load':>12} {'switch':>10} "
        f"{'gen full':>9} {'switch+gen':>10} {'load/switch':>12} {'(load+gen)/(switch+gen)':>24}"
    ]
    for name, r in rows.items():
        params = r.get("parameters")
        lines.append(
            f"{name:<8} {params if params else '-':>10} {r['full_load_s'] * 1e3:>8.1f}ms"
            f" {r['adapter_load_s'] * 1e3:>10.1f}ms {r['adapter_switch_s'] * 1e6:>8.1f}us"
            f" {r['full_generate_s'] * 1e3:>7.1f}ms"
            f" {r['adapter_switch_generate_s'] * 1e3:>8.1f}ms {r['load_over_switch']:>11.0f}x"
            f" {r['switch_generate_ratio']:>23.1f}x"
        )
    for name, r in rows.items():
        lines.append(
            f"{name}: {r['experts']} experts as full models {r['memory_full_mb']:.1f} MB on disk/in memory, "
            f"as one base + adapters {r['memory_lora_mb']:.1f} MB"
        )
    lines.append(f"real model: {results['real_model'].get('skipped', 'measured (row real)')}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.expert_switch", description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--sizes", default="tiny,small", help=f"comma-separated, of {', '.join(SIZES)}")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--tokens", type=int, default=16, help="greedy tokens generated after a switch")
    parser.add_argument("--real-model", default=None, help="a real model folder or HF id, measured on the GPU")
    args = parser.parse_args(argv)
    sizes = [s for s in args.sizes.split(",") if s]
    unknown = [s for s in sizes if s not in SIZES]
    if unknown or args.repeats < 1 or args.tokens < 1:
        parser.error(f"unknown size(s) {unknown}; use {', '.join(SIZES)}" if unknown else "repeats/tokens must be >= 1")
    results = run(sizes, args.repeats, args.tokens, args.real_model)
    print(json.dumps(results, indent=2) if args.json else format_table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
