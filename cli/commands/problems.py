"""`subgoalxl problems PATH`: list the benchmark problems a path holds, as the prover will see them.

Registered in agent/cli.py as `app.command()(problems)`. It shows what the loader made of the data (split,
category, imports, stripped proofs, joined informal data) and the fingerprint a run will record. Exit 0: loaded;
2: the path cannot be loaded (the message names the file, line and fix).
"""

from __future__ import annotations

import json
from collections import Counter
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

EXIT_INFRA = 2


class SplitChoice(StrEnum):
    valid = "valid"
    test = "test"


def problems(
    path: Annotated[
        Path,
        typer.Argument(
            help="miniF2F checkout (isabelle/{valid,test}/*.thy), a folder of .thy files, one .thy, or a .jsonl",
            show_default=False,
        ),
    ],
    split: Annotated[SplitChoice | None, typer.Option("--split", help="keep one split", show_default=False)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object per problem")] = False,
) -> None:
    """List the problems found at PATH (shipped proofs stripped, informal data joined) and their fingerprint."""
    from benchmarks.data.names import categories_of
    from benchmarks.data.passk import format_category_counts
    from benchmarks.data.problems import ProblemLoadError, load_problems

    try:
        found = load_problems(path, split=split.value if split else None)
    except ProblemLoadError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(EXIT_INFRA) from None
    for p in found:
        if as_json:
            row = {
                "name": p.name,
                "split": p.split,
                "category": p.category,
                "imports": list(p.imports),
                "shipped_proof_stripped": p.had_shipped_proof,
                "informal": p.has_informal,
                "formal_statement": p.has_formal_statement,
                "erratum": p.erratum,
                "source": p.source,
            }
            typer.echo(json.dumps(row))
        else:
            flags = ["proof stripped" if p.had_shipped_proof else "", "informal" if p.has_informal else ""]
            flags.append("" if p.has_formal_statement else "no formal statement (the model states it)")
            flags.append(f"erratum: {p.erratum}" if p.erratum else "")
            columns = [p.name, p.split or "-", p.category, " ".join(p.imports), ", ".join(f for f in flags if f)]
            typer.echo("  ".join(columns).rstrip())
    if not as_json:
        splits = Counter(p.split or "unknown split" for p in found)
        per_split = ", ".join(f"{n} {s}" for s, n in sorted(splits.items()))
        categories = format_category_counts(categories_of(found.names))
        stripped = sum(p.had_shipped_proof for p in found)
        informal = sum(p.has_informal for p in found)
        unstated = sum(not p.has_formal_statement for p in found)
        unstated_text = f"; {unstated} without a formal statement (autoformalization only)" if unstated else ""
        typer.echo(
            f"{len(found)} problems ({per_split or 'none'}); {categories}; {stripped} shipped proofs stripped; "
            f"{informal} with informal data{unstated_text}; fingerprint {found.fingerprint}"
        )
