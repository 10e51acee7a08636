"""The layout shows the architecture: layers only point down, no two modules import each other, the command line
lives in `cli` alone, and the README's layer diagram is the import graph as it is."""

from __future__ import annotations

import re

from tests.import_graph import REPO, diagram, group, imports, layer_of, mutual, violations


def test_no_module_imports_a_layer_above_its_own_or_a_sibling_of_its_layer():
    assert violations(imports()) == []


def test_no_two_modules_import_each_other_lazily_or_not():
    assert mutual(imports()) == []


def test_the_checks_catch_what_they_are_for():
    # the rules above are not vacuous: an upward import and a mutual pair are reported
    graph = {"isabelle_env.checker": {"agent.store"}, "agent.store": {"isabelle_env.checker"}}
    assert len(violations(graph)) == 1 and "isabelle_env.checker" in violations(graph)[0]
    assert mutual(graph) == [("agent.store", "isabelle_env.checker")]
    assert violations({"generators.parsing": {"benchmarks.data.names"}})  # siblings of one layer
    assert group("benchmarks.report.model") == "benchmarks.report" and layer_of("cli.main") > layer_of("agent.run")


def test_only_the_command_line_uses_typer_and_rich():
    found = []
    for path in REPO.glob("*/**/*.py"):
        top = path.relative_to(REPO).parts[0]
        if top in ("cli", "tests", ".venv") or top.startswith("."):
            continue
        if re.search(r"^\s*(from|import) (typer|rich)\b", path.read_text(encoding="utf-8"), re.M):
            found.append(str(path.relative_to(REPO)))
    assert found == []


def test_the_readme_layer_diagram_is_the_import_graph():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- layers -->\n```\n(.*?)\n```\n<!-- /layers -->", readme, re.S)
    assert block is not None, "README.md lost its <!-- layers --> block"
    assert block.group(1) == diagram(imports()), "regenerate it: python -m tests.import_graph"
