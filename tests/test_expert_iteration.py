"""Expert iteration end to end on CPU: tiny models built on the spot, the stand-in Isabelle server, five problems.

Samples come from `ToyBackend` (scripted completions, so verified data exists every round); scoring, training and
evaluation use the tiny model for real. A second test kills a loop mid-round and resumes it.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from expert_iteration.config import parse_iterate_config
from expert_iteration.curve import round_curve
from expert_iteration.loop import STEPS, ExpertIteration
from expert_iteration.state import IterationStore
from generators.backend import Backend, Completion, SamplingParams, ScoreResult
from tests.conftest import address_of
from tests.scripted_prover import ScriptedProver

pytestmark = pytest.mark.ray

TRAIN, HELDOUT = (0, 1, 2), (3, 4)
#: the toy proofs' propositions and the methods that close them
SCRIPT = {"x = x": {"by auto"}, "?thesis": {"by simp"}}
PROOFS = (
    # verified, two steps
    'proof -\n  (* Step 1: Since x is given, compute the sum. *)\n  have c1: "x = x" using h0 sledgehammer\n'
    "  (* Step 2: Conclude. *)\n  show ?thesis using h0 sledgehammer\nqed",
    # verified, one step (short)
    "proof -\n  show ?thesis using h0 sledgehammer\nqed",
    # fails: nothing closes x = y
    'proof -\n  have c1: "x = y" using h0 sledgehammer\n  show ?thesis using c1 sledgehammer\nqed',
)
SUBGOALS = ("Step 1: Since x is given, compute the sum.\nStep 2: Conclude.", "Step 1: Substitute h0.\nStep 2: Add.")


def statement(i: int, extra: str = "") -> str:
    return f'theorem toy{i}:\n  fixes x :: nat\n  assumes h0: "x = {i}"\n  shows "x + {i} = {2 * i}{extra}"'


class ToyBackend(Backend):
    """Scripted completions by role: statements (right, and a near-duplicate), two subgoal lists, three proofs."""

    kind = "toy"
    model = "toy"

    def _generate(self, prompts: list[str], params: SamplingParams) -> list[list[Completion]]:
        out = []
        for prompt in prompts:
            if prompt.endswith("### Formal statement\n"):
                i = int(re.findall(r"when x = (\d+)\.", prompt)[-1])
                texts = [statement(i, " + 0" if k % 2 else "") for k in range(params.n)]
            elif prompt.endswith("### Subgoals\n"):
                texts = [SUBGOALS[k % 2] for k in range(params.n)]
            else:
                texts = [PROOFS[k % 3] for k in range(params.n)]
            out.append([Completion(t, len(prompt) // 4, len(t) // 4, "stop") for t in texts])
        return out

    def _score_many(self, pairs: list[tuple[str, str]]) -> list[ScoreResult]:
        return [ScoreResult.from_logprobs([-1.0 - len(c) / 1000] * max(1, len(c.split()))) for _, c in pairs]


def write_problems(path: Path) -> Path:
    rows = []
    for i in TRAIN + HELDOUT:
        rows.append(
            {
                "problem_name": f"toy{i}",
                "informal_statement": f"Show that x + {i} = {2 * i} when x = {i}.",
                "informal_proof": f"Substitute x = {i}.\nThen x + {i} = {2 * i}.",
                "formal_statement": statement(i),
                "imports": ["Main"],
                "split": "valid" if i in TRAIN else "test",
            }
        )
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def loop_config(tmp_path: Path, model: Path, **sections) -> dict:
    data = {
        "loop": {"id": "toyloop", "rounds": 2, "seed": 3},
        "models": {"base": str(model)},
        "problems": {"train": str(write_problems(tmp_path / "toys.jsonl")), "train_split": "valid"}
        | {"heldout_split": "test"},
        "sampling": {"statements_per_problem": 2, "subgoals_per_problem": 2, "proofs_per_subgoal": 3}
        | {"placement": "local", "max_tokens": 64},
        "scoring": {"placement": "local"},
        "selection": {"k": 2},
        "dataset": {
            "sources": [{"name": "competition", "kind": "verified"}, {"name": "library", "kind": "prompt_demos"}],
            "short_proof_drop": {"1": 1.0},
        },
        "training": {"max_steps": 2, "batch_size": 1, "learning_rate": 5e-3, "max_length": 3000}
        | {"activation_checkpointing": False},
        "evaluation": {"max_tokens": 12, "num_cpus": 0.25},
        "isabelle": {"checkers": 1},
        "checking": {"tactic_timeout": 5, "sledgehammer_timeout": 2, "proof_timeout": 60},
    }
    for name, values in sections.items():
        data[name] = data.get(name, {}) | values
    return data


def to_toml(data: dict) -> str:
    """Just enough TOML for a loop config: sections of scalars, lists, sub-tables and arrays of tables."""

    def value(v) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, list | tuple):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return json.dumps(v)

    lines = []
    for section, values in data.items():
        tables = {k: v for k, v in values.items() if isinstance(v, dict)}
        arrays = {k: v for k, v in values.items() if isinstance(v, list) and v and isinstance(v[0], dict)}
        lines.append(f"[{section}]")
        lines += [f"{k} = {value(v)}" for k, v in values.items() if k not in tables and k not in arrays]
        for k, table in tables.items():
            lines += [f"[{section}.{k}]"] + [f"{json.dumps(str(a))} = {value(b)}" for a, b in table.items()]
        for k, rows in arrays.items():
            for row in rows:
                lines += [f"[[{section}.{k}]]"] + [f"{a} = {value(b)}" for a, b in row.items()]
    return "\n".join(lines) + "\n"


def sample_with_toys(purpose: str, model: str):
    """Samples scripted; scoring and evaluation with the real model."""
    return ToyBackend if purpose == "sample" else {"kind": "transformers", "model": model}


@pytest.fixture(scope="module")
def two_rounds(tmp_path_factory, tiny_model_dir, transcripts, ray_local):
    from tests.isabelle_standin import Behaviour, IsabelleStandin

    tmp_path = tmp_path_factory.mktemp("iterate")
    server = IsabelleStandin(transcripts, Behaviour(rename_theories=True, choose_transcript=ScriptedProver(SCRIPT)))
    server.start()
    data = loop_config(tmp_path, tiny_model_dir)
    data["loop"] |= {"store": str(tmp_path / "runs.sqlite"), "work_dir": str(tmp_path / "work")}
    config = parse_iterate_config(data)
    events = []
    started = time.monotonic()
    with ExpertIteration(
        config,
        store_path=tmp_path / "runs.sqlite",
        work_dir=tmp_path / "work",
        server=address_of(server),
        cache_path="",
        backend_factory=sample_with_toys,
        on_event=events.append,
    ) as loop:
        rounds = loop.run()
    server.stop()
    return {"tmp": tmp_path, "rounds": rounds, "events": events, "config": data, "elapsed": time.monotonic() - started}


@pytest.mark.timeout(300)  # the shared two-round fixture runs in the first of these
def test_two_rounds_build_datasets_as_specified(two_rounds):
    tmp = two_rounds["tmp"]
    assert [r["round"] for r in two_rounds["rounds"]] == [1, 2]
    with IterationStore(tmp / "runs.sqlite") as store:
        for round_ in (1, 2):
            steps = {s["step"]: s for s in store.steps("toyloop") if s["round"] == round_}
            assert set(steps) == set(STEPS) and all(s["status"] == "done" and s["runs"] == 1 for s in steps.values())
            candidates = store.candidates("toyloop", round_)
            by_id = {c["id"]: c for c in candidates}
            assert len(candidates) == 3 * (2 + 2 + 2 * 3)
            verdicts = {(c["role"], c["verdict"]) for c in candidates}
            assert {("statement", "accepted"), ("proof", "proved"), ("proof", "failed")} <= verdicts
            assert all(c["score"] is not None for c in candidates if c["selected"])
            examples = store.examples("toyloop", round_)
            kept = [e for e in examples if e["status"] == "kept"]
            statuses = {e["status"] for e in examples}
            assert {"kept", "near_duplicate", "short_proof"} <= statuses
            # every kept competition example names the verified candidate that produced it
            for e in kept:
                if e["source"] == "competition":
                    origin = by_id[e["origin"]["candidate"]]
                    assert origin["selected"] == 1 and origin["problem"] == e["problem"]
                    assert origin["verdict"] == {"statement": "accepted", "proof": "proved", "subgoal": None}[e["role"]]
                    if e["role"] == "proof":
                        assert origin["verdict"] == "proved" and e["origin"]["proof_hash"] == origin["proof_hash"]
                        assert "have c1" in origin["value"]  # the one-step proofs were dropped as short
                    if e["role"] == "subgoal":
                        assert all(by_id[c]["verdict"] == "proved" for c in e["origin"]["verified_by"])
                else:
                    assert e["origin"]["ref"].startswith("prompt:")
            # 1 : 1 mixing of the loop's verified data and the library, per role
            report = json.loads((tmp / "work/toyloop" / f"round-{round_}/datasets/report.json").read_text())
            for role in ("statement", "subgoal", "proof"):
                info = report["datasets"][role]
                lines = (tmp / "work/toyloop" / f"round-{round_}/datasets/{role}.jsonl").read_text().splitlines()
                assert len(lines) == info["examples"] > 0
                by_source = info["report"]["by_source"]
                assert by_source["competition"]["kept"] == by_source["library"]["kept"] > 0


@pytest.mark.timeout(300)  # the shared two-round fixture runs in the first of these
def test_weights_change_between_rounds_reload_and_the_registry_links_versions(two_rounds, tiny_model_dir):
    import hashlib

    import torch
    from transformers import AutoModelForCausalLM

    tmp = two_rounds["tmp"]
    with IterationStore(tmp / "runs.sqlite") as store:
        models = {(m["round"], m["role"]): m for m in store.models("toyloop")}
        for role in ("statement", "subgoal", "proof"):
            r0, r1, r2 = models[(0, role)], models[(1, role)], models[(2, role)]
            assert r0["path"] == str(tiny_model_dir) and r0["parent"] is None
            assert r1["parent"] == r0["version"] and r2["parent"] == r1["version"]
            for m in (r1, r2):
                data = Path(m["dataset_path"]).read_bytes()
                assert m["data_hash"] == hashlib.sha256(data).hexdigest()[:16]
                metrics = json.loads(m["metrics"])
                assert metrics["training"]["steps"] == 2 and metrics["training"]["trained_on"] > 0
                assert "evaluation" in metrics
            weights = [
                AutoModelForCausalLM.from_pretrained(m["path"]).state_dict()["model.layers.0.mlp.up_proj.weight"]
                for m in (r0, r1, r2)
            ]
            assert not torch.equal(weights[0], weights[1]) and not torch.equal(weights[1], weights[2])
        # each round sampled with the previous round's versions and evaluated the new ones
        assert json.loads(store.step("toyloop", 2, "sample")["summary"])["models"]["proof"] == "toyloop/r1/proof"
        rounds = store.rounds("toyloop")
    from agent.store import RunStore

    with RunStore(tmp / "runs.sqlite") as runs:
        for r in rounds:
            ev = r["evaluation"]
            assert ev["evaluated"] == 2 and ev["run_id"] == f"toyloop-r{r['round']}-eval"
            samples = [s for p in ("toy3", "toy4") for s in runs.samples_for(ev["run_id"], p, 0)]
            assert samples and {s["model"] for s in samples} <= {
                models[(r["round"], x)]["path"] for x in ("subgoal", "proof")
            }


@pytest.mark.timeout(300)  # the shared two-round fixture runs in the first of these
def test_the_round_curve_and_the_report_command(two_rounds, tmp_path):
    from cli.commands.iterate import iterate, iterate_report

    store = two_rounds["tmp"] / "runs.sqlite"
    curve = round_curve(store, "toyloop")
    assert [c["round"] for c in curve] == [1, 2]
    assert all(c["k"] == 1 and c["heldout"] == 2 and c["data_size"] > 0 for c in curve)
    assert set(curve[0]["data"]) == {"statement", "subgoal", "proof"}
    app = typer.Typer()
    app.command("iterate")(iterate)
    app.command("iterate-report")(iterate_report)
    runner = CliRunner()
    out = tmp_path / "curve.json"
    result = runner.invoke(app, ["iterate-report", "toyloop", "--store", str(store), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "per-round curve" in result.stdout and "pass@1" in result.stdout
    assert json.loads(out.read_text())["rounds"] == curve
    as_json = runner.invoke(app, ["iterate-report", "toyloop", "--store", str(store), "--json"])
    assert json.loads(as_json.stdout)["loop_id"] == "toyloop"
    missing = runner.invoke(app, ["iterate-report", "nope", "--store", str(store)])
    assert missing.exit_code == 2 and "loops there: toyloop" in missing.stderr
    # the same config as TOML: `iterate` resumes the finished loop, redoes nothing, and prints the curve
    toml = tmp_path / "iterate.toml"
    toml.write_text(to_toml(two_rounds["config"]))
    again = runner.invoke(app, ["iterate", "--config", str(toml), "--json"])
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout.strip().splitlines()[-1])["rounds"] == curve
    with IterationStore(store) as istore:
        assert all(s["runs"] == 1 for s in istore.steps("toyloop"))
    changed = json.loads(json.dumps(two_rounds["config"]))
    changed["sampling"]["temperature"] = 0.9
    toml.write_text(to_toml(changed))
    refused = runner.invoke(app, ["iterate", "--config", str(toml), "--json"])
    assert refused.exit_code == 2 and "another config (changed: sampling.temperature)" in refused.stderr
    bad = tmp_path / "bad.toml"
    bad.write_text('[problems]\ntrain = "x"\n[models]\nbase = "m"\n[training]\nmethod = "qlora"\n')
    result = runner.invoke(app, ["iterate", "--config", str(bad)])
    assert result.exit_code == 2 and "training.method" in result.stderr and "'full' or 'lora'" in result.stderr


DRIVER = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {repo!r})
    import ray
    ray.init(address={address!r}, log_to_driver=False)
    import tests.test_expert_iteration as t
    ray.cloudpickle.register_pickle_by_value(t)
    from expert_iteration.config import parse_iterate_config
    from expert_iteration.loop import ExpertIteration
    from isabelle_env.address import ServerAddress

    config = parse_iterate_config({config!r})
    server = ServerAddress("127.0.0.1", {port}, {password!r})
    loop = ExpertIteration(config, store_path={store!r}, work_dir={work!r}, server=server, cache_path="",
                           backend_factory=t.toys_everywhere, ray_address={address!r})
    loop.run()
    """
)


def step_status(store: Path, round_: int, step: str) -> str | None:
    if not store.exists():
        return None
    with contextlib.closing(sqlite3.connect(store, timeout=30)) as db:
        try:
            row = db.execute("select status from ei_steps where round = ? and step = ?", (round_, step)).fetchone()
        except sqlite3.OperationalError:  # the table is not there yet
            return None
    return row[0] if row else None


def toys_everywhere(purpose: str, model: str):
    return ToyBackend


def test_a_loop_killed_mid_round_resumes_without_redoing_finished_steps(tmp_path, tiny_model_dir, standin, ray_local):
    import ray

    import tests.test_expert_iteration as me

    ray.cloudpickle.register_pickle_by_value(me)
    server = standin(rename_theories=True, choose_transcript=ScriptedProver(SCRIPT))
    address = address_of(server)
    data = loop_config(
        tmp_path,
        tiny_model_dir,
        loop={"rounds": 1},
        evaluation={"baseline": True, "num_cpus": 0.25},
        dataset={"mode": "single"},  # one model for the three roles
    )
    store, work = tmp_path / "runs.sqlite", tmp_path / "work"
    script = DRIVER.format(
        repo=os.getcwd(),
        address=ray_local.get_runtime_context().gcs_address,
        config=data,
        port=address.port,
        password=address.password,
        store=str(store),
        work=str(work),
    )
    driver = subprocess.Popen([sys.executable, "-c", script], env=os.environ | {"OMP_NUM_THREADS": "1"})
    deadline = time.monotonic() + 120
    while step_status(store, 1, "train") is None:  # kill it as soon as it starts training
        assert driver.poll() is None, "the loop ended before it could be killed"
        assert time.monotonic() < deadline, "the loop never reached the train step"
        time.sleep(0.05)
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    with IterationStore(store) as istore:
        before = {(s["round"], s["step"]): s for s in istore.steps("toyloop")}
        checked = {c["id"]: c["checked_at"] for c in istore.candidates("toyloop", 1)}
    assert before[(1, "train")]["status"] == "running"
    assert all(before[(1, s)]["status"] == "done" for s in ("sample", "verify", "score", "select", "build"))
    assert before[(0, "evaluate")]["status"] == "done"
    config = parse_iterate_config(data)
    with ExpertIteration(
        config, store_path=store, work_dir=work, server=address, cache_path="", backend_factory=toys_everywhere
    ) as loop:
        rounds = loop.run()
    with IterationStore(store) as istore:
        after = {(s["round"], s["step"]): s for s in istore.steps("toyloop")}
        assert {c["id"]: c["checked_at"] for c in istore.candidates("toyloop", 1)} == checked  # nothing re-verified
        assert istore.loop("toyloop")["status"] == "finished"
        assert [(m["round"], m["role"]) for m in istore.models("toyloop")] == [(0, "all"), (1, "all")]
        assert istore.model_for("toyloop", 1, "all").parent == "toyloop/r0/all"
        build = json.loads(istore.step("toyloop", 1, "build")["summary"])
        balance = build["datasets"]["all"]["report"]["role_balance"]
        assert set(build["datasets"]) == {"all"} and all(balance[r] > 0 for r in ("statement", "subgoal", "proof"))
    for key, step in before.items():
        if step["status"] == "done":
            assert after[key]["finished"] == step["finished"] and after[key]["runs"] == 1, key
    assert after[(1, "train")]["runs"] == 2 and after[(1, "evaluate")]["runs"] == 1
    # the baseline (round 0) solved both held-out problems with the toy generators; round 1 skips them
    baseline, first = rounds
    assert baseline["evaluation"]["solved"] == 2 and baseline["evaluation"]["union_solved"] == 2
    assert first["evaluation"]["evaluated"] == 0 and first["evaluation"]["union_solved"] == 2


def test_lora_training_merges_into_a_plain_model_and_drops_what_does_not_fit(tiny_model_dir, tmp_path):
    import torch
    from transformers import AutoModelForCausalLM

    from expert_iteration.config import TrainingSection
    from expert_iteration.training import train_model

    rows = [{"prompt": f"### Formal statement\ntheorem t{i}\n", "completion": "by simp"} for i in range(3)]
    rows.append({"prompt": "x " * 400, "completion": "by auto"})
    dataset = tmp_path / "proof.jsonl"
    dataset.write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = TrainingSection(
        method="lora", lora_r=4, lora_alpha=8, max_steps=2, batch_size=1, learning_rate=5e-2, max_length=128
    )
    metrics = train_model(str(tiny_model_dir), dataset, tmp_path / "lora", cfg, seed=0)
    assert metrics["steps"] == 2 and metrics["too_long"] == 1 and metrics["trained_on"] == 3
    assert (tmp_path / "lora/config.json").is_file() and not (tmp_path / "lora/adapter_config.json").exists()
    name = "model.layers.0.self_attn.q_proj.weight"
    before = AutoModelForCausalLM.from_pretrained(tiny_model_dir).state_dict()[name]
    after = AutoModelForCausalLM.from_pretrained(tmp_path / "lora").state_dict()[name]
    assert not torch.equal(before, after)


def test_the_progress_display_shows_each_step():
    from rich.console import Console

    from cli.commands.iterate import _Display
    from expert_iteration.loop import LoopEvent

    display = _Display("toyloop")
    for event in (
        LoopEvent("toyloop", 1, "sample", "started"),
        LoopEvent("toyloop", 1, "sample", "progress", "1/2 chunks"),
        LoopEvent("toyloop", 1, "sample", "done", "proof 6/6 parsed"),
        LoopEvent("toyloop", 1, "verify", "started"),
        LoopEvent("toyloop", 1, "", "finished"),
    ):
        display.update(event)
    console = Console(record=True, width=120)
    console.print(display.render())
    text = console.export_text()
    assert "proof 6/6 parsed" in text and "done" in text and "verify" in text and "running" in text
