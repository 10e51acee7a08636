"""`subgoalxl doctor`: what this machine has for proof search, and how to get what is missing."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from cli.options import EXIT_FAILED, IsabelleOpt, JsonOpt


def doctor(
    isabelle: IsabelleOpt = None,
    as_json: JsonOpt = False,
    strict: Annotated[bool, typer.Option(help="exit 1 when a required piece is missing")] = False,
) -> None:
    """Report Isabelle, heaps, Ray, GPUs, vLLM and folders found here, and how to get what is missing."""
    from agent.doctor import Status, run_doctor

    checks = run_doctor(isabelle)
    if as_json:
        typer.echo(json.dumps([c.to_json() for c in checks], indent=2))
    else:
        from rich.console import Console
        from rich.markup import escape
        from rich.table import Table

        table = Table(title="subgoalxl doctor", show_lines=False)
        for column in ("component", "status", "found", "how to fix"):
            table.add_column(column, overflow="fold")
        style = {Status.OK: "green", Status.WARN: "yellow", Status.MISSING: "red"}
        for c in checks:
            table.add_row(c.component, f"[{style[c.status]}]{c.status}[/]", escape(c.detail), escape(c.fix))
        Console().print(table)
        missing_now = [c.component for c in checks if c.required and c.status is not Status.OK]
        typer.echo(f"missing for proof search: {', '.join(missing_now)}" if missing_now else "ready for proof search")
    missing = [c for c in checks if c.required and c.status is not Status.OK]
    if strict and missing:
        raise typer.Exit(EXIT_FAILED)
