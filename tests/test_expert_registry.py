"""Every model version a loop registered is an expert, addressable by role, variant (the loop) and round."""

from __future__ import annotations

from typer.testing import CliRunner

from cli.main import app
from expert_iteration.state import IterationStore
from generators.experts import ExpertSet


def test_registered_versions_become_an_experts_file_the_agent_reads(tmp_path):
    store_path = tmp_path / "runs.sqlite"
    store = IterationStore(store_path)
    for role in ("statement", "subgoal", "proof"):
        store.register_model(loop_id="sxl.a", round_=0, role=role, path="/models/base", parent=None)
    store.register_model(loop_id="sxl.a", round_=1, role="proof", path="/w/r1/proof", parent="sxl.a/r0/proof")
    store.register_model(loop_id="sxl.a", round_=2, role="proof", path="/w/r2/proof", parent="sxl.a/r1/proof")
    out = tmp_path / "experts.toml"
    result = CliRunner().invoke(app, ["iterate-experts", "sxl.a", "--out", str(out), "--store", str(store_path)])
    assert result.exit_code == 0, result.output
    experts = ExpertSet.from_toml(out)
    assert experts.latest("proof").name == "proof/sxl-a/r2"
    assert experts.get("proof/sxl-a/r1").model_path == "/w/r1/proof"
    assert experts.get("proof/sxl-a/r1").base_model == "/models/base"
    assert experts.get("subgoal/sxl-a/r0").served_model == "/models/base"
    missing = CliRunner().invoke(app, ["iterate-experts", "nope", "--out", str(out), "--store", str(store_path)])
    assert missing.exit_code == 2 and "has no registered models" in missing.stderr
