"""The `subgoalxl` command line: one Typer app composed of the command modules in `cli.commands`.

Commands import their machinery lazily so `--help` stays instant.
"""

from __future__ import annotations

import sys

import typer

from cli.options import (
    EXIT_INTERRUPTED,
    EXIT_TERMINATED,
    Terminated,
    interrupted_code,
    sigterm_received,
    stop_on_sigterm,
)

app = typer.Typer(
    name="subgoalxl",
    help="LLM-driven theorem proving in Isabelle/HOL: subgoal-based proofs and expert learning.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _register_commands() -> None:
    """Every command and command group, in the order `--help` lists them."""
    from cli.commands.bench import bench_app
    from cli.commands.checking import audit, check, verify
    from cli.commands.doctor import doctor
    from cli.commands.eval import eval_command, prove
    from cli.commands.generate import generate as generate_command
    from cli.commands.isabelle import isabelle_app
    from cli.commands.iterate import iterate, iterate_experts, iterate_report
    from cli.commands.problems import problems as problems_command
    from cli.commands.prompts import extend_tokenizer, prompts_app
    from cli.commands.report import report as report_command

    app.command(name="doctor")(doctor)
    app.command(name="check")(check)
    app.command(name="audit")(audit)
    app.command(name="verify")(verify)
    app.add_typer(isabelle_app, name="isabelle")
    app.add_typer(bench_app, name="bench")
    app.add_typer(prompts_app, name="prompts")
    app.command(name="extend-tokenizer")(extend_tokenizer)
    app.command(name="problems")(problems_command)
    app.command(name="generate")(generate_command)
    app.command(name="eval")(eval_command)
    app.command(name="prove")(prove)
    app.command(name="report")(report_command)
    app.command(name="iterate")(iterate)
    app.command(name="iterate-report")(iterate_report)
    app.command(name="iterate-experts")(iterate_experts)


_register_commands()


def main() -> None:
    stop_on_sigterm()
    try:
        app()
    except KeyboardInterrupt as exc:
        what = "terminated (SIGTERM)" if isinstance(exc, Terminated) else "interrupted"
        typer.echo(f"{what}; everything started was stopped", err=True)
        sys.exit(interrupted_code(exc))
    except SystemExit as exc:  # typer ends a command that did not catch Ctrl-C (or SIGTERM) with a silent 130
        if exc.code == EXIT_INTERRUPTED and sigterm_received():
            typer.echo("terminated (SIGTERM); everything started was stopped", err=True)
            sys.exit(EXIT_TERMINATED)
        raise
