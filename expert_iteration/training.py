"""Step 6: supervised fine-tuning of one generator with TRL's `SFTTrainer`, from the previous round's weights.

Completion-only loss on prompt/completion rows; full fine-tuning or LoRA (peft), where LoRA weights are merged
so that every model version is a plain model folder any backend loads. Placement is accelerate's: CPU here, the
visible GPU(s) in-process elsewhere, or `launcher = "accelerate"` for one process per GPU (`accelerate launch`).
Examples longer than `max_length` tokens are dropped (and counted), never cut: a cut one would train on a
prompt without its completion. The model is written to a temporary folder and renamed when complete, so a
folder that exists is a finished model. torch, transformers, trl and peft are imported here only.
"""

from __future__ import annotations

import gc
import json
import math
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from expert_iteration.config import TrainingSection


class TrainingError(RuntimeError):
    """Fine-tuning failed; the message says where and how to look."""


def _precision(cfg: TrainingSection, torch: Any) -> dict[str, bool]:
    cuda = torch.cuda.is_available()
    if cfg.precision == "bf16" or (cfg.precision == "auto" and cuda and torch.cuda.is_bf16_supported()):
        return {"bf16": True, "fp16": False}
    if cfg.precision == "fp16":
        return {"bf16": False, "fp16": True}
    return {"bf16": False, "fp16": False}


def _read_rows(dataset_path: Path) -> list[dict[str, str]]:
    rows = []
    for line in dataset_path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            rows.append({"prompt": row["prompt"], "completion": row["completion"]})
    return rows


def train_model(base: str, dataset_path: Path, out_dir: Path, cfg: TrainingSection, seed: int) -> dict[str, Any]:
    """Fine-tune `base` (a folder or HF id) on the JSONL at `dataset_path`; save to `out_dir`; return metrics."""
    if cfg.launcher == "accelerate":
        return _launch_accelerate(base, dataset_path, out_dir, cfg, seed)
    return _train_here(base, dataset_path, out_dir, cfg, seed)


def _train_here(base: str, dataset_path: Path, out_dir: Path, cfg: TrainingSection, seed: int) -> dict[str, Any]:
    import datasets
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging
    from trl import SFTConfig, SFTTrainer

    from generators.backends.config import resolve_model_source

    datasets.disable_progress_bars()
    hf_logging.disable_progress_bar()
    source, local_only = resolve_model_source(base)
    tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=local_only)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    rows = _read_rows(dataset_path)
    eos = tokenizer.eos_token or ""
    fitting = [r for r in rows if len(tokenizer(r["prompt"] + r["completion"] + eos).input_ids) <= cfg.max_length]
    metrics: dict[str, Any] = {"examples": len(rows), "too_long": len(rows) - len(fitting)}
    if not fitting:
        raise TrainingError(
            f"no example of {dataset_path} fits training.max_length = {cfg.max_length} tokens: raise max_length"
        )
    precision = _precision(cfg, torch)
    model = AutoModelForCausalLM.from_pretrained(
        source, local_files_only=local_only, dtype=torch.bfloat16 if precision["bf16"] else torch.float32
    )
    scratch = out_dir.parent / f".{out_dir.name}.trainer"
    shutil.rmtree(scratch, ignore_errors=True)
    args = SFTConfig(
        output_dir=str(scratch),
        max_length=cfg.max_length,
        completion_only_loss=True,
        packing=False,
        per_device_train_batch_size=cfg.batch_size,
        gradient_accumulation_steps=cfg.gradient_accumulation_steps,
        learning_rate=cfg.learning_rate,
        num_train_epochs=cfg.epochs,
        max_steps=cfg.max_steps or -1,
        lr_scheduler_type=cfg.lr_scheduler,
        warmup_steps=cfg.warmup_ratio,
        weight_decay=cfg.weight_decay,
        use_cpu=not torch.cuda.is_available(),
        save_strategy="no",
        report_to="none",
        logging_steps=1,
        disable_tqdm=True,
        activation_checkpointing=cfg.activation_checkpointing,
        seed=seed,
        data_seed=seed,
        **precision,
    )
    peft_config = None
    if cfg.method == "lora":
        from peft import LoraConfig

        targets = cfg.lora_target_modules
        peft_config = LoraConfig(
            r=cfg.lora_r,
            lora_alpha=cfg.lora_alpha,
            lora_dropout=cfg.lora_dropout,
            target_modules=targets if isinstance(targets, str) else list(targets),
            task_type="CAUSAL_LM",
        )
    train = datasets.Dataset.from_list(fitting)
    trainer = SFTTrainer(
        model=model, args=args, train_dataset=train, processing_class=tokenizer, peft_config=peft_config
    )
    from transformers import PrinterCallback, ProgressCallback

    for callback in (PrinterCallback, ProgressCallback):  # the loop reports progress itself; keep stdout clean
        trainer.remove_callback(callback)
    result = trainer.train()
    losses = [e["loss"] for e in trainer.state.log_history if "loss" in e]
    metrics |= {
        "trained_on": len(fitting),
        "steps": trainer.state.global_step,
        "train_loss": result.training_loss,
        "first_loss": losses[0] if losses else None,
        "last_loss": losses[-1] if losses else None,
        "runtime_s": round(result.metrics.get("train_runtime", 0.0), 3),
        "device": str(trainer.args.device),
        "method": cfg.method,
    }
    if not all(math.isfinite(x) for x in losses):
        raise TrainingError(f"training on {dataset_path} diverged (loss {losses[-1]}): lower training.learning_rate")
    if trainer.is_world_process_zero():
        final = trainer.model.merge_and_unload() if cfg.method == "lora" else trainer.model
        tmp = out_dir.parent / f".{out_dir.name}.partial"
        shutil.rmtree(tmp, ignore_errors=True)
        final.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / "training_metrics.json").write_text(json.dumps(metrics, indent=2))
        shutil.rmtree(out_dir, ignore_errors=True)
        tmp.replace(out_dir)
    shutil.rmtree(scratch, ignore_errors=True)
    del trainer, model
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return metrics


def _launch_accelerate(base: str, dataset_path: Path, out_dir: Path, cfg: TrainingSection, seed: int) -> dict[str, Any]:
    """One process per GPU via `accelerate launch`; the job (this module's `main`) writes the metrics file."""
    spec = out_dir.parent / f".{out_dir.name}.spec.json"
    spec.parent.mkdir(parents=True, exist_ok=True)
    payload = {"base": base, "dataset": str(dataset_path), "out": str(out_dir), "seed": seed}
    spec.write_text(json.dumps({**payload, "training": cfg.model_dump(mode="json") | {"launcher": "inprocess"}}))
    command = [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", str(cfg.num_processes)]
    command += ["--num_machines", "1", "--dynamo_backend", "no"]  # precision is the Trainer's (SFTConfig)
    command += ["--module", "expert_iteration.training", str(spec)]
    result = subprocess.run(command, check=False)
    metrics_file = out_dir / "training_metrics.json"
    if result.returncode != 0 or not metrics_file.is_file():
        raise TrainingError(f"`{' '.join(command)}` failed (exit {result.returncode}); its output is above")
    spec.unlink(missing_ok=True)
    return json.loads(metrics_file.read_text())


def main(argv: list[str] | None = None) -> None:
    """Entry point of an `accelerate launch` job: `python -m expert_iteration.training SPEC.json`."""
    spec = json.loads(Path((argv or sys.argv[1:])[0]).read_text())
    cfg = TrainingSection.model_validate(spec["training"])
    _train_here(spec["base"], Path(spec["dataset"]), Path(spec["out"]), cfg, spec["seed"])


if __name__ == "__main__":
    main()
