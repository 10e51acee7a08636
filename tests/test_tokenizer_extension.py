"""The Isabelle-symbol tokenizer extension on the tiny model and the shared miniF2F + DSP corpus."""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import json
import shutil
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from cli.commands.prompts import extend_tokenizer as extend_command
from generators.tokenizer_extension import (
    REPORT_FILE,
    CorpusError,
    candidates,
    extend_tokenizer,
    read_corpus,
    read_corpus_path,
    theory_statement,
)


@pytest.fixture(scope="module")
def corpus_paths(shared: Path) -> list[Path]:
    return [shared / "datasets/minif2f/isabelle", shared / "datasets/dsp/results/human_100_proofs.jsonl.tar.gz"]


def test_the_corpus_is_read_from_the_paths_given_without_extracting(corpus_paths, tmp_path):
    statements, proofs = (read_corpus_path(p) for p in corpus_paths)
    assert len(statements) == 488 and len(proofs) == 200
    assert all(s.startswith(("theorem", "lemma")) and not s.endswith("end") for s in statements)
    assert proofs[0].startswith("theorem aime_1983_p2:") and "\\<le>" in proofs[0]
    thy = 'theory t imports Main\nbegin\n\ntheorem t:\n  shows "x \\<le> x"\n  sorry\n\nend\n'
    assert theory_statement(thy) == 'theorem t:\n  shows "x \\<le> x"\n  sorry'
    (tmp_path / "rows.jsonl").write_text('{"formal_statement": "theorem a: \\"P\\""}\n{"informal": "x"}\n')
    with pytest.raises(CorpusError, match=r"rows.jsonl:2: a row needs one of the text fields proof"):
        read_corpus_path(tmp_path / "rows.jsonl")
    with pytest.raises(CorpusError, match="does not exist"):
        read_corpus([tmp_path / "missing"])


def test_symbols_are_ranked_by_tokens_saved(tiny_model_dir):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    found = candidates(tokenizer, ["a \\<le> b \\<and> c", "(\\<forall>x. x \\<le> y)", "\\<le>"], keywords=False)
    by_text = {t.text: t for t in found}
    assert by_text[" \\<le>"].count == 2 and by_text["\\<le>"].count == 1  # after a space vs not
    assert all(t.saving == t.count * (len(t.pieces) - 1) for t in found)
    assert [t.saving for t in found] == sorted((t.saving for t in found), reverse=True)


def test_the_extension_shortens_the_corpus_round_trips_and_the_model_generates(tiny_model_dir, corpus_paths, tmp_path):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    app = typer.Typer()
    app.command()(extend_command)
    out = tmp_path / "extended"
    args = [str(tiny_model_dir), "--out", str(out), "--top", "40", "--keywords", "4", "--json"]
    for path in corpus_paths:
        args += ["--corpus", str(path)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert json.loads((out / REPORT_FILE).read_text()) == report

    total = report["total"]
    assert total["texts"] == 688 and total["tokens_after"] < total["tokens_before"]
    assert total["savings"] > 0.04  # measured: ~5 % on this domain-trained 512-token vocabulary
    for part in report["parts"].values():
        assert part["tokens_per_char_after"] < part["tokens_per_char_before"]
    assert report["round_trip"] == {"texts": 688, "exact": True, "failures": [], "base_tokenizer_exact": True}
    added = {t["text"]: t for t in report["added"]}
    assert "\\<forall>" in added and " \\<and>" in added and report["vocab_after"] == 512 + len(added)
    assert 0 < sum(t["kind"] == "keyword" for t in report["added"]) <= 4
    generation = report["generation"]
    assert generation["ok"] and generation["prompt_uses_new_tokens"] and generation["completion_tokens"] == 16

    base_model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    model = AutoModelForCausalLM.from_pretrained(out)
    tokenizer = AutoTokenizer.from_pretrained(out)
    assert model.get_input_embeddings().weight.shape[0] == len(tokenizer) == report["vocab_after"]
    old = base_model.get_input_embeddings().weight
    new = model.get_input_embeddings().weight
    forall = added["\\<forall>"]
    pieces = AutoTokenizer.from_pretrained(tiny_model_dir)("\\<forall>", add_special_tokens=False).input_ids
    assert len(pieces) == forall["pieces"] and tokenizer.convert_tokens_to_ids("\\<forall>") == forall["id"]
    assert torch.allclose(new[forall["id"]], old[pieces].mean(dim=0))  # the mean of the pieces it replaces
    assert torch.equal(new[: old.shape[0]], old)  # every old embedding kept

    again = CliRunner().invoke(app, [str(tiny_model_dir), "--out", str(out), "--corpus", str(corpus_paths[1])])
    assert again.exit_code == 2 and "is not empty" in again.output


def test_untied_output_embeddings_are_initialised_too(tiny_model_dir, tmp_path):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    untied = tmp_path / "untied"
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    model.config.tie_word_embeddings = False
    torch.manual_seed(0)
    model.lm_head.weight = torch.nn.Parameter(torch.randn_like(model.lm_head.weight))
    model.save_pretrained(untied)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(tiny_model_dir / name, untied / name)
    corpus = {"texts": ["x \\<Longrightarrow> y \\<Longrightarrow> z"] * 3}
    report = extend_tokenizer(untied, corpus, tmp_path / "out", top=1, check_generation=False)
    [token] = report.added
    assert token["text"] == " \\<Longrightarrow>" and not report.tied_embeddings
    assert report.total["tokens_after"] == report.total["tokens_before"] - 6 * (token["pieces"] - 1)
    extended = AutoModelForCausalLM.from_pretrained(tmp_path / "out")
    pieces = AutoTokenizer.from_pretrained(untied)(token["text"], add_special_tokens=False).input_ids
    head = AutoModelForCausalLM.from_pretrained(untied).lm_head.weight
    assert torch.allclose(extended.lm_head.weight[token["id"]], head[pieces].mean(dim=0))
