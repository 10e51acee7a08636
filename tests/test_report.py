"""`subgoalxl report`: files that parse, numbers that agree with the store, unions, mixing refused, DSP comparison
on the real lists, the page in a real headless browser, and errors that name the fix."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from concurrent.futures import Future
from math import comb
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from agent.store import RunStore
from benchmarks.report import ReportError, build_report
from cli.commands.report import report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
FILES = {"summary.md", "summary.json", "problems.jsonl", "index.html", "passk.png", "categories.png"}
FILES |= {"solved_over_time.png"}

cli = typer.Typer()
cli.command(name="report")(report)


@cli.callback()
def _group() -> None:
    """Makes `report` a subcommand, as it is under `subgoalxl`."""


def closed_form(n: int, c: int, k: int) -> float:
    """The documented per-problem estimate, written independently: binomials, or solved-in-fewer-than-k."""
    if n >= k:
        return 1 - comb(n - c, k) / comb(n, k)
    return 1.0 if c else 0.0


# ---------------------------------------------------------------------------------------------------------------
# Stores written through RunStore's public methods


def fill_run(store: RunStore, run_id: str, problems: dict[str, list[str]], *, fingerprint="fp", split="valid"):
    """One run; each attempt is "proved", "failed", "timeout", "rejected", "infra", "unparsed", "cancelled" or
    "dedup:I" (a duplicate of attempt I). Solved problems get their solution 10 s per problem after the start."""
    budget = max((len(a) for a in problems.values()), default=1)
    config = {"search": {"prover": "subgoal", "attempts_per_problem": budget}}
    store.open_run(run_id, config=config, meta={"benchmark": "minif2f", "split": split, "fingerprint": fingerprint})
    store.add_problems(
        run_id, [{"name": n, "split": split, "theory_text": f"theorem {n}: ...", "category": ""} for n in problems]
    )
    created = store.run(run_id)["created"]
    for position, (name, attempts) in enumerate(problems.items()):
        solved = False
        for index, spec in enumerate(attempts):
            row = {"problem": name, "attempt_index": index, "status": spec, "proof_hash": f"h{index}"}
            if spec.startswith("dedup:"):
                row.update(status="dedup", dedup_of=int(spec.split(":")[1]))
            elif spec in ("proved", "failed", "timeout", "rejected", "infra"):
                kind = "infrastructure-error" if spec == "infra" else spec
                proof = f"proof of {name} by attempt {index}" if spec == "proved" else None
                row.update(status="checked", verdict_kind=kind, reason=kind, final_proof=proof, check_s=1.5, cached=0)
            store.record_attempt(run_id, row)
            completion = {"stage": "proof", "k": 0, "completion": spec, "parse_ok": 1, "model": "m"}
            store.record_sample(
                run_id, {"problem": name, "attempt_index": index, **completion, "completion_tokens": 10}
            )
            if spec == "proved" and not solved:
                solved = True
                store.record_solution(run_id, name, index, f"proof of {name} by attempt {index}")
                store.set_problem(run_id, name, status="proved", solved_at=created + 10 * (position + 1))
        store.set_problem(run_id, name, attempts_planned=budget)
    store.update_run(run_id, status="finished")
    store.flush()


def invoke(*args: str):
    return CliRunner().invoke(cli, ["report", *args])


# ---------------------------------------------------------------------------------------------------------------
# Numbers


RULES = {
    "mathd_algebra_10": ["failed", "proved", "dedup:1", "unparsed", "cancelled"],  # n=4 c=2
    "amc12a_2019_p21": ["failed", "dedup:0", "infra", "timeout"],  # n=3 c=0
    "aime_1983_p2": [],  # never attempted: n=0
    "imo_1959_p1": ["rejected", "proved"],  # n=2 c=1, then stopped early
}
RULES_NC = {"mathd_algebra_10": (4, 2), "amc12a_2019_p21": (3, 0), "aime_1983_p2": (0, 0), "imo_1959_p1": (2, 1)}


def test_pass_at_k_follows_the_documented_sample_rules(tmp_path):
    with RunStore(tmp_path / "runs.sqlite") as store:
        fill_run(store, "a", RULES)
    result = invoke("a", "--out", str(tmp_path / "out"), "--store", str(tmp_path / "runs.sqlite"), "--k", "1,2,4")
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    run = summary["runs"][0]
    for k in (1, 2, 4):
        expected = sum(closed_form(n, c, k) for n, c in RULES_NC.values()) / len(RULES_NC)
        assert run["pass_at_k"][str(k)] == pytest.approx(expected, abs=1e-4)
    # the never-attempted problem makes every k a lower bound
    assert run["pass_at_k_lower_bound"] == ["1", "2", "4"]
    assert run["solved"] == 2 and run["problems"] == 4 and run["by_category_text"] == "1 MATH algebra, 1 IMO"
    rows = {
        r["problem_name"]: r for r in map(json.loads, (tmp_path / "out" / "problems.jsonl").read_text().splitlines())
    }
    assert {name: (r["n"], r["c"]) for name, r in rows.items()} == RULES_NC
    assert rows["mathd_algebra_10"]["proof"] == "proof of mathd_algebra_10 by attempt 1"
    assert rows["mathd_algebra_10"]["proof_attempt"] == 1 and rows["aime_1983_p2"]["proof"] is None
    cost = run["cost"]
    # attempts: 11 rows; checked 7 (one an infrastructure error); Isabelle time over checked attempts only
    assert (cost["attempts"], cost["checked"], cost["dedup"], cost["unparsed"], cost["cancelled"]) == (11, 7, 2, 1, 1)
    assert cost["isabelle_s"] == pytest.approx(7 * 1.5) and cost["completion_tokens"] == 110
    assert cost["per_solved"] == {"attempts": 5.5, "completion_tokens": 55.0, "isabelle_s": 5.25}
    assert "pass@4" in (tmp_path / "out" / "summary.md").read_text()
    assert "1 - C(n-c,k)/C(n,k)" in summary["method"]["pass_at_k"]


NEW_COLUMNS = [
    ("attempts", "statement"),
    ("attempts", "statement_hash"),
    ("attempts", "benchmark_statement"),
    ("attempts", "variant"),
    ("problems", "has_formal_statement"),
]


def test_a_store_from_before_the_statement_columns_is_migrated_and_read_as_the_benchmarks(tmp_path):
    import sqlite3

    path = tmp_path / "old.sqlite"
    with RunStore(path) as store:
        fill_run(store, "old", {"mathd_algebra_10": ["failed", "proved"]})
    conn = sqlite3.connect(path)
    for table, column in NEW_COLUMNS:  # what a store written before these columns looks like
        conn.execute(f"alter table {table} drop column {column}")
    conn.commit()
    conn.close()
    with RunStore(path) as store:
        store.record_attempt("old", {"problem": "mathd_algebra_10", "attempt_index": 2, "status": "unparsed"})
        store.flush()
        report = build_report(store, ["old"])
    conn = sqlite3.connect(path)
    for table, column in NEW_COLUMNS:
        assert column in {row[1] for row in conn.execute(f"pragma table_info({table})")}, (table, column)
    conn.close()
    # old rows say nothing about statements: they were all checked against the benchmark's own
    assert report.union.solved == 1 and report.union.proved_own_statement == () and report.union.model_stated == 0
    assert report.problems[0].c == 1 and report.problems[0].to_json()["statement_source"] == "benchmark"


def test_a_proof_of_a_model_statement_is_a_failed_sample_and_listed_apart(tmp_path):
    with RunStore(tmp_path / "runs.sqlite") as store:
        fill_run(store, "r", {"mathd_algebra_10": ["failed"], "imo_1959_p1": ["failed"]})
        model = {"statement": 'theorem imo_1959_p1: "True"', "statement_hash": "ab12", "benchmark_statement": 0}
        row = {"problem": "imo_1959_p1", "attempt_index": 1, "status": "checked", "verdict_kind": "proved"}
        store.record_attempt("r", {**row, **model, "final_proof": "by simp", "proof_hash": "h1"})
        store.flush()
        out = tmp_path / "out"
        result = invoke("r", "--out", str(out), "--store", str(tmp_path / "runs.sqlite"), "--no-plots")
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    run = summary["runs"][0]
    assert run["solved"] == 0 and run["pass_at_k"]["1"] == 0.0
    assert run["proved_own_statement"] == {"problems": 1, "names": ["imo_1959_p1"]}
    assert summary["proved_own_statement"][0]["statement"] == 'theorem imo_1959_p1: "True"'
    rows = [json.loads(line) for line in (out / "problems.jsonl").read_text().splitlines()]
    imo = next(r for r in rows if r["problem_name"] == "imo_1959_p1")
    assert imo["solved"] is False and (imo["n"], imo["c"]) == (2, 0) and "True" not in json.dumps(imo)
    markdown = (out / "summary.md").read_text()
    assert "## Proved own statement (not counted)" in markdown and 'theorem imo_1959_p1: "True"' in markdown
    assert "Proved own statement, not counted (1)" in (out / "index.html").read_text()


def test_the_report_counts_how_proofs_were_obtained_and_what_oracles_they_rest_on(tmp_path):
    with RunStore(tmp_path / "runs.sqlite") as store:
        fill_run(store, "r", {"mathd_algebra_10": [], "imo_1959_p1": [], "aime_1983_p2": [], "amc12a_2019_p21": []})
        how = {
            "mathd_algebra_10": ("as_written", []),
            "imo_1959_p1": ("gaps_filled", ["holds_by_evaluation"]),
            "aime_1983_p2": ("coarsened:1", []),
        }
        for name, (salvage, oracles) in how.items():
            row = {"problem": name, "attempt_index": 0, "status": "checked", "verdict_kind": "proved"}
            store.record_attempt("r", {**row, "final_proof": "by simp", "salvage": salvage, "oracles": oracles})
            store.record_solution("r", name, 0, "by simp")
        store.flush()
        out = tmp_path / "out"
        result = invoke("r", "--out", str(out), "--store", str(tmp_path / "runs.sqlite"), "--no-plots")
    assert result.exit_code == 0, result.output
    run = json.loads((out / "summary.json").read_text())["runs"][0]
    assert run["solved"] == 3 and run["checked_under"] == {}  # fill_run records no [checking] section
    assert run["solved_by_salvage"] == {"as_written": 1, "coarsened:1": 1, "gaps_filled": 1}
    assert run["resting_on_oracles"] == {"problems": 1, "by_oracle": {"holds_by_evaluation": 1}}
    rows = {r["problem_name"]: r for r in map(json.loads, (out / "problems.jsonl").read_text().splitlines())}
    assert rows["imo_1959_p1"]["proof_oracles"] == ["holds_by_evaluation"]
    assert rows["aime_1983_p2"]["proof_salvage"] == "coarsened:1"
    markdown = (out / "summary.md").read_text()
    assert "| r | 3 | 1 | 1 | 1 | 1 (holds_by_evaluation 1) |" in markdown


def test_union_of_two_runs_and_the_fingerprint_rule(tmp_path):
    path = tmp_path / "runs.sqlite"
    with RunStore(path) as store:
        fill_run(store, "a", {"p1": ["proved"], "p2": ["failed"], "p3": ["failed"]})
        fill_run(store, "b", {"p1": ["failed"], "p2": ["proved"], "p3": ["failed"]})
        fill_run(store, "other", {"p1": ["proved"]}, fingerprint="fp-other")
        built = build_report(store, ["a", "b"], ks=[1, 2])
        assert [s.solved for s in built.summaries] == [1, 1, 2]
        union = built.union
        assert union.pass_at_k[1] == pytest.approx((1 / 2 + 1 / 2 + 0) / 3)  # pooled: n=2 per problem
        assert union.pass_at_k[2] == pytest.approx(2 / 3)
        solved_by = {p.name: p.solved_by for p in built.problems}
        assert solved_by["p2"] == {"a": False, "b": True} and built.problems[1].proof_run == "b"
        with pytest.raises(ReportError, match="fingerprint fp-other") as refused:
            build_report(store, ["a", "other"])
        assert "fingerprint fp;" in str(refused.value) and "--allow-mixed" in str(refused.value)
    result = invoke("a", "other", "--out", str(tmp_path / "mixed"), "--store", str(path))
    assert result.exit_code == 2 and "fp-other" in result.stderr and "--allow-mixed" in result.stderr
    result = invoke("a", "other", "--out", str(tmp_path / "mixed"), "--store", str(path), "--allow-mixed", "--no-plots")
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "mixed" / "summary.json").read_text())
    assert summary["mixed_fingerprints"] is True and summary["notes"][0].startswith("MIXED")
    assert "MIXED" in (tmp_path / "mixed" / "index.html").read_text()


def test_errors_exit_2_and_name_the_fix(tmp_path, monkeypatch):
    monkeypatch.delenv("SUBGOALXL_DATA", raising=False)
    path = tmp_path / "runs.sqlite"
    out = str(tmp_path / "out")
    result = invoke("r1", "--out", out, "--store", str(path))
    assert result.exit_code == 2 and "no run store at" in result.stderr and "--store" in result.stderr
    assert not path.exists()  # a missing store is not created by reading it
    RunStore(path).close()
    result = invoke("r1", "--out", out, "--store", str(path))
    assert result.exit_code == 2 and "holds no runs" in result.stderr and "subgoalxl eval" in result.stderr
    with RunStore(path) as store:
        fill_run(store, "a", {"p1": ["proved"]})
    result = invoke("nope", "--out", out, "--store", str(path))
    assert result.exit_code == 2 and "run nope is not in" in result.stderr and "it holds: a" in result.stderr
    (tmp_path / "afile").write_text("x")
    result = invoke("a", "--out", str(tmp_path / "afile"), "--store", str(path))
    assert result.exit_code == 2 and "is a file: give a folder" in result.stderr
    result = invoke("a", "--out", str(tmp_path / "afile" / "sub"), "--store", str(path), "--no-plots")
    assert result.exit_code == 2 and "give a writable folder with --out" in result.stderr
    result = invoke("a", "--out", out, "--store", str(path), "--k", "0,x")
    assert result.exit_code == 2 and "--k 1,8,64" in result.stderr
    result = invoke("a", "--out", out, "--store", str(path), "--compare", "dsp")
    assert result.exit_code == 2 and "--compare-dsp DIR" in result.stderr
    result = invoke("a", "--out", out, "--store", str(path), "--compare", str(tmp_path / "x.jsonl"))
    assert result.exit_code == 2 and "needs --data PATH" in result.stderr
    (tmp_path / "junk.sqlite").write_bytes(b"not a database at all" * 100)
    result = invoke("a", "--out", out, "--store", str(tmp_path / "junk.sqlite"))
    assert result.exit_code == 2 and "is not a run store" in result.stderr


def test_the_report_imports_nothing_heavy():
    probe = (
        "import sys\nimport benchmarks.report, cli.commands.report\n"
        "print(','.join(m for m in ('ray', 'torch', 'matplotlib', 'isabelle_env.server', 'isabelle_env.client') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip() == ""


# ---------------------------------------------------------------------------------------------------------------
# Published results


def test_comparison_with_the_dsp_lists_on_the_real_data(tmp_path, shared):
    from benchmarks.data.problems import load_problems
    from benchmarks.data.published import compare, load_dsp_results

    minif2f = shared / "datasets" / "minif2f"
    valid = load_problems(minif2f, split="valid")
    everything = load_problems(minif2f)
    hammer = load_dsp_results(shared / "datasets" / "dsp" / "results", everything)["hammer_heuristics_success"]
    theirs_valid = sorted(hammer.in_split("valid"))
    assert len(theirs_valid) == 44
    ours = set(theirs_valid[:30]) | set(sorted(set(valid.names) - hammer.solved)[:5])
    path = tmp_path / "runs.sqlite"
    with RunStore(path) as store:
        store.open_run(
            "v", config={}, meta={"benchmark": "minif2f", "split": "valid", "fingerprint": valid.fingerprint}
        )
        store.add_problems(
            "v",
            [{"name": p.name, "split": p.split, "category": p.category, "theory_text": p.theory_text} for p in valid],
        )
        for p in valid:
            kind = "proved" if p.name in ours else "failed"
            row = {"problem": p.name, "attempt_index": 0, "status": "checked", "verdict_kind": kind, "check_s": 2.0}
            store.record_attempt("v", row)
            if kind == "proved":
                store.record_solution("v", p.name, 0, "by simp")
        store.flush()
    out = tmp_path / "out"
    dsp = shared / "datasets" / "dsp" / "results"
    result = invoke("v", "--out", str(out), "--store", str(path), "--data", str(minif2f), "--compare-dsp", str(dsp))
    assert result.exit_code == 0, result.output
    assert "vs hammer_heuristics_success (valid): both 30, only ours 5, only theirs 14" in result.stdout
    summary = json.loads((out / "summary.json").read_text())
    rows = {c["label"]: c for c in summary["comparisons"]}
    assert set(rows) == {"hammer_heuristics_success", "human_100_success", "minerva_100_success", "minerva_200_success"}
    row = rows["hammer_heuristics_success"]
    assert (row["split"], row["scope"], row["both"], row["only_ours"], row["only_theirs"]) == ("valid", 244, 30, 5, 14)
    assert row["theirs_outside_scope"] == 0  # the run covers the valid split; their 51 test-split solves stay out
    for label, theirs in load_dsp_results(dsp, everything).items():
        expected = compare(ours, theirs, split="valid")  # the library's own comparison agrees
        assert (rows[label]["both"], rows[label]["only_ours"], rows[label]["only_theirs"]) == (
            len(expected.both),
            len(expected.only_ours),
            len(expected.only_theirs),
        )
    assert not any("differ" in n for n in summary["notes"])  # --data holds the statements the run used
    problem_rows = [json.loads(line) for line in (out / "problems.jsonl").read_text().splitlines()]
    assert len(problem_rows) == 244 and sum(r["solved"] for r in problem_rows) == 35
    assert sum(r["published"]["hammer_heuristics_success"] for r in problem_rows) == 44
    # our problems.jsonl is itself a published per-problem list: compared with itself, nothing differs
    again = invoke(
        "v", "--out", str(tmp_path / "again"), "--store", str(path), "--data", str(minif2f), "--no-plots",
        "--compare", str(out / "problems.jsonl"), "--json",
    )  # fmt: skip
    assert again.exit_code == 0, again.output
    (self_row,) = json.loads((tmp_path / "again" / "summary.json").read_text())["comparisons"]
    assert (self_row["both"], self_row["only_ours"], self_row["only_theirs"]) == (35, 0, 0)


# ---------------------------------------------------------------------------------------------------------------
# A real run (Ray, stand-in Isabelle), then the page in a real browser


class ListProposer:
    """Per attempt index, one candidate (None: the model wrote nothing checkable), with a sample row each."""

    name = "list"

    def __init__(self, candidates: list[str | None]):
        self.candidates = candidates

    def propose(self, problem, attempt_index, seed):
        from agent.proposers import Proposal

        candidate = self.candidates[attempt_index]
        sample = {"stage": "proof", "k": 0, "prompt": "p", "completion": candidate or "???", "model": "list"}
        sample |= {"parse_ok": int(candidate is not None), "prompt_tokens": 3, "completion_tokens": 10 + attempt_index}
        future: Future = Future()
        error = None if candidate else "no proof in the completion"
        future.set_result(Proposal(problem.name, attempt_index, candidate, [sample], error=error))
        return future

    def models(self):
        return {"proof": "list"}

    def close(self):
        pass


def store_nc(store: RunStore, run_id: str) -> dict[str, tuple[int, int]]:
    """n, c per problem straight from the attempt rows (the documented rules, written independently)."""
    out = {}
    for p in store.problems(run_id):
        rows = store.attempts(run_id, p["name"])
        verdict = {a["attempt_index"]: a["verdict_kind"] for a in rows if a["status"] == "checked"}
        kinds = [
            verdict.get(a["dedup_of"]) if a["status"] == "dedup" else "failed" if a["status"] == "unparsed" else None
            for a in rows
        ] + [a["verdict_kind"] for a in rows if a["status"] == "checked"]
        kinds = [k for k in kinds if k in ("proved", "failed", "timeout", "rejected")]
        out[p["name"]] = (len(kinds), kinds.count("proved"))
    return out


@pytest.mark.ray
def test_a_report_of_two_real_runs(standin, tmp_path, ray_local):
    from agent.config import parse_config
    from agent.run import RunMeta, run_search
    from tests.conftest import address_of
    from tests.scripted_prover import ScriptedProver
    from tests.test_search import PROBLEMS, SCRIPT, SOLVABLE, config

    odd = {f"x + {i} = {2 * i}": ({"by auto"} if i % 2 else set()) for i in range(10)}
    path = tmp_path / "runs.sqlite"
    meta = RunMeta("toys", "valid", "fp")
    with RunStore(path) as store:
        server = standin(rename_theories=True, choose_transcript=ScriptedProver(SCRIPT))
        run_search(problems=PROBLEMS, config=config(), store=store, run_id="hammer", meta=meta,
                   server=address_of(server), cache_path="")  # fmt: skip
        server2 = standin(rename_theories=True, choose_transcript=ScriptedProver(odd))
        cfg = parse_config({"search": {"attempts_per_problem": 3}, "checking": {"tactic_timeout": 5}})
        proposer = ListProposer(["using assms by auto", "using assms by auto", None])
        run_search(problems=PROBLEMS, config=cfg, store=store, run_id="list", meta=meta, server=address_of(server2),
                   proposer=proposer, cache_path="")  # fmt: skip
        solved = {r: set(store.solutions(r)) for r in ("hammer", "list")}
        nc = {r: store_nc(store, r) for r in ("hammer", "list")}
    odd_names = {f"toy{i}" for i in range(1, 10, 2)}
    assert solved == {"hammer": SOLVABLE, "list": odd_names}
    out = tmp_path / "report"
    result = invoke("hammer", "list", "--out", str(out), "--store", str(path), "--k", "1,2,3")
    assert result.exit_code == 0, result.output
    assert {p.name for p in out.iterdir()} == FILES
    for png in ("passk.png", "categories.png", "solved_over_time.png"):
        assert (out / png).read_bytes().startswith(PNG_MAGIC)
    summary = json.loads((out / "summary.json").read_text())
    runs = {r["run_id"]: r for r in summary["runs"]}
    assert runs["hammer"]["solved"] == 7 and runs["list"]["solved"] == 5 and summary["union"]["solved"] == 10
    checked_under = runs["hammer"]["checked_under"]
    assert checked_under["imports"] == "benchmark" and checked_under["allowed_oracles"] == ["holds_by_evaluation"]
    assert runs["hammer"]["solved_by_salvage"] == {"as_written": 7}
    assert runs["list"]["attempts_per_problem"] == 3 and runs["list"]["models"] == {"proof": "list"}
    for k in (1, 2, 3):
        for run_id in ("hammer", "list"):
            expected = sum(closed_form(n, c, k) for n, c in nc[run_id].values()) / 10
            if run_id == "hammer" and k > 1:  # above its budget of one attempt: not measured
                assert runs[run_id]["pass_at_k"][str(k)] is None
            else:
                assert runs[run_id]["pass_at_k"][str(k)] == pytest.approx(expected, abs=1e-4)
        pooled = [(nc["hammer"][p][0] + nc["list"][p][0], nc["hammer"][p][1] + nc["list"][p][1]) for p in nc["list"]]
        assert summary["union"]["pass_at_k"][str(k)] == pytest.approx(
            sum(closed_form(n, c, k) for n, c in pooled) / 10, abs=1e-4
        )
    assert runs["list"]["cost"]["completion_tokens"] >= 10 * 10 and runs["hammer"]["cost"]["completion_tokens"] == 0
    rows = [json.loads(line) for line in (out / "problems.jsonl").read_text().splitlines()]
    assert [r["problem_name"] for r in rows] == sorted(p.name for p in PROBLEMS)
    assert {r["problem_name"] for r in rows if r["solved_by"]["list"]} == odd_names
    assert all(r["solved"] and r["proof"] for r in rows)
    assert "using assms by auto" in next(r["proof"] for r in rows if r["problem_name"] == "toy5")
    markdown = (out / "summary.md").read_text()
    assert "| union | 10 | 10 | 100.0% |" in markdown and "## Proofs" in markdown


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def browse(page: Path, tmp_path: Path, *, query: str = "", screenshot: Path | None = None) -> str:
    """The DOM after the page's scripts ran, from a real headless Chromium (no network, throwaway profile)."""
    args = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
    args += ["--disable-component-update", "--no-first-run", "--disable-sync", f"--user-data-dir={tmp_path / 'prof'}"]
    args += [f"--screenshot={screenshot}", "--window-size=1200,2000"] if screenshot else ["--dump-dom"]
    result = subprocess.run([*args, page.as_uri() + query], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def row_names(dom: str) -> list[str]:
    body = dom.split('id="problems-table"', 1)[1].split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return re.findall(r'<tr data-name="([^"]+)"', body)


@pytest.mark.skipif(chromium() is None, reason="chromium is not on PATH (CI: apt-get install -y chromium)")
def test_the_page_in_a_real_headless_browser(tmp_path):
    problems = {f"p{i}": (["failed", "proved"] if i % 3 == 0 else ["failed", "failed"]) for i in range(1, 10)}
    path = tmp_path / "runs.sqlite"
    with RunStore(path) as store:
        fill_run(store, "a", problems)
        fill_run(store, "b", {name: ["proved"] if name == "p2" else ["failed"] for name in problems})
    out = tmp_path / "out"
    assert invoke("a", "b", "--out", str(out), "--store", str(path)).exit_code == 0
    page = out / "index.html"
    html = page.read_text()
    assert "default-src 'none'" in html and "http://" not in html and "https://" not in html  # nothing fetched
    assert html.count("data:image/png;base64,") == 3
    by_name = sorted(problems)
    solved = {"p2", "p3", "p6", "p9"}

    dom = browse(page, tmp_path, query="?sort=-solved")
    names = row_names(dom)
    assert sorted(names) == by_name  # one row per problem
    assert set(names[:4]) == solved and names[:4] == sorted(solved)  # solved first, ties in name order
    assert re.search(r'data-key="solved"[^>]*aria-sort="descending"', dom)
    assert 'href="#proof-p3"' in dom and 'id="proof-p3"' in dom and 'href="#proof-p1"' not in dom

    # a real click on a header, twice: ascending, then descending
    clicked = out / "clicked.html"
    script = "<script>var th = document.querySelector('th[data-key=\"run:b\"]'); th.click(); th.click();</script>"
    clicked.write_text(html.replace("</body>", script + "</body>"))
    names = row_names(browse(clicked, tmp_path))
    assert names[0] == "p2" and sorted(names[1:]) == names[1:]

    shot = tmp_path / "page.png"
    browse(page, tmp_path, screenshot=shot)
    assert shot.read_bytes().startswith(PNG_MAGIC) and shot.stat().st_size > 20_000
