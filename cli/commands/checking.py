"""`subgoalxl check`, `audit` and `verify`: theories and candidates against a real Isabelle, or the audit alone."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cli.options import (
    EXIT_FAILED,
    EXIT_INFRA,
    EXIT_OK,
    IsabelleOpt,
    JsonOpt,
    PasswordOpt,
    ServerOpt,
    SessionDirOpt,
    SessionOpt,
    fail,
    server_address,
)

if TYPE_CHECKING:
    from isabelle_env.theory_text import ProblemTheory


def check(
    theories: Annotated[list[Path], typer.Argument(help="theory files (.thy) to check", show_default=False)],
    isabelle: IsabelleOpt = None,
    isabelle_server: ServerOpt = None,
    password: PasswordOpt = None,
    session: SessionOpt = None,
    session_dir: SessionDirOpt = None,
    timeout: Annotated[float, typer.Option(help="seconds allowed for the whole check")] = 600.0,
    as_json: JsonOpt = False,
) -> None:
    """Check theory files with a real Isabelle. Exit 0: all checked without errors; 1: some failed; 2: trouble."""
    from cli.session_notice import announce_session
    from isabelle_env.connect import open_session_pool
    from isabelle_env.errors import IsabelleError
    from isabelle_env.session_pool import SessionPoolConfig
    from isabelle_env.sessions import theory_file_imports
    from isabelle_env.theory_check import check_theory_files, theory_file_problem

    for path in theories:
        problem = theory_file_problem(path)
        if problem:
            raise fail(problem)
    address = server_address(isabelle_server, password)
    imports = [i for path in theories for i in theory_file_imports(path.read_text(encoding="utf-8", errors="replace"))]
    choice = announce_session(imports, session, isabelle=isabelle, server=address, dirs=session_dir or ())
    config = SessionPoolConfig(session=choice.session, size=1, dirs=choice.dirs, check_timeout=timeout)
    try:
        with open_session_pool(config, isabelle=isabelle, server=address) as pool:
            results = check_theory_files(pool, theories, timeout=timeout)
    except IsabelleError as exc:
        raise fail(str(exc)) from None
    ok = all(r.ok for r in results)
    if as_json:
        typer.echo(json.dumps({"ok": ok, "theories": [r.to_json() for r in results]}, indent=2))
    else:
        for r in results:
            typer.echo(f"{r.path}: {'ok' if r.ok else 'FAILED'} ({r.elapsed_s:.1f}s)")
            if r.problem:
                typer.echo(f"  {r.problem}")
            for e in r.errors:
                where = f"line {e.pos.line}" if e.pos.line is not None else "(no position)"
                typer.echo(f"  {where}: " + e.text.replace("\n", "\n    "))
    raise typer.Exit(EXIT_OK if ok else EXIT_FAILED)


ProblemArg = Annotated[Path, typer.Argument(help="problem theory (.thy), e.g. a miniF2F file", show_default=False)]
CandidateArg = Annotated[
    str, typer.Argument(help="candidate proof file (a theory, a theorem or a proof body), or - for stdin")
]


def _read_problem(path: Path) -> ProblemTheory:
    from isabelle_env.text_files import TextFileError, read_text_file
    from isabelle_env.theory_text import TheoryParseError, parse_problem

    if not path.is_file():
        raise fail(f"problem file {path} does not exist")
    try:
        return parse_problem(read_text_file(path, "problem file"))
    except TextFileError as exc:
        raise fail(str(exc)) from None
    except TheoryParseError as exc:
        raise fail(f"{path} is not a problem theory: {exc}") from None


def _read_candidate(spec: str) -> str:
    from isabelle_env.text_files import TextFileError, decode_utf8, read_text_file

    try:
        if spec == "-":
            return decode_utf8(sys.stdin.buffer.read(), "on standard input", "the candidate")
        path = Path(spec)
        if not path.is_file():
            raise fail(f"candidate file {path} does not exist (give a path, or - to read stdin)")
        return read_text_file(path, "candidate file")
    except TextFileError as exc:
        raise fail(str(exc)) from None


def audit(
    problem: ProblemArg,
    candidate: CandidateArg,
    aux_lemmas: Annotated[bool, typer.Option("--aux-lemmas", help="allow auxiliary lemmas with proofs")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Soundness audit of a candidate proof against a problem, without Isabelle. Exit 0 clean, 1 findings."""
    from isabelle_env.audit import audit_candidate

    report = audit_candidate(_read_problem(problem), _read_candidate(candidate), allow_aux_lemmas=aux_lemmas)
    if as_json:
        findings = [{"rule": f.rule, "line": f.line, "message": f.message} for f in report.findings]
        typer.echo(json.dumps({"ok": report.ok, "findings": findings}, indent=2))
    else:
        typer.echo(str(report))
    raise typer.Exit(EXIT_OK if report.ok else EXIT_FAILED)


def verify(
    problem: ProblemArg,
    candidate: CandidateArg,
    isabelle: IsabelleOpt = None,
    isabelle_server: ServerOpt = None,
    password: PasswordOpt = None,
    session: SessionOpt = None,
    session_dir: SessionDirOpt = None,
    tactic_timeout: Annotated[float, typer.Option(help="seconds per tactic and step")] = 10.0,
    proof_timeout: Annotated[float, typer.Option(help="seconds for the whole candidate")] = 600.0,
    sledgehammer: Annotated[bool, typer.Option(help="run Sledgehammer on steps no tactic closes")] = True,
    aux_lemmas: Annotated[bool, typer.Option("--aux-lemmas", help="allow auxiliary lemmas with proofs")] = False,
    kernel_only: Annotated[
        bool, typer.Option("--kernel-only", help="allow no oracle at all (by default `eval`'s is allowed)")
    ] = False,
    try0: Annotated[bool, typer.Option(help="ask Isabelle's try0 at every step first")] = True,
    cache: Annotated[bool, typer.Option(help="reuse and record verdicts in the check cache")] = True,
    as_json: JsonOpt = False,
) -> None:
    """Audit, then check a candidate with a real Isabelle. Exit 0 proved, 1 not proved, 2 infrastructure error."""
    from cli.session_notice import announce_session
    from isabelle_env.check_cache import CheckCache
    from isabelle_env.checker import CheckerConfig, ProofChecker
    from isabelle_env.connect import open_session_pool
    from isabelle_env.errors import IsabelleError
    from isabelle_env.session_pool import SessionPoolConfig
    from isabelle_env.user_dirs import cache_dir
    from isabelle_env.verdict import VerdictKind

    parsed = _read_problem(problem)
    text = _read_candidate(candidate)
    address = server_address(isabelle_server, password)
    try:
        config = CheckerConfig(
            tactic_timeout=tactic_timeout,
            proof_timeout=proof_timeout,
            sledgehammer=sledgehammer,
            allow_aux_lemmas=aux_lemmas,
            try0=try0,
            **({"allowed_oracles": ()} if kernel_only else {}),
        )
    except ValueError as exc:
        raise fail(str(exc)) from None
    choice = announce_session(parsed.imports, session, isabelle=isabelle, server=address, dirs=session_dir or ())
    pool_config = SessionPoolConfig(session=choice.session, dirs=choice.dirs)
    store = CheckCache(cache_dir() / "check_cache.sqlite") if cache else None
    try:
        with open_session_pool(pool_config, isabelle=isabelle, server=address) as pool:
            verdict = ProofChecker(pool, config, cache=store).verify(parsed, text)
    except IsabelleError as exc:
        raise fail(str(exc)) from None
    if as_json:
        typer.echo(json.dumps(verdict.to_json(), indent=2))
    else:
        typer.echo(f"{verdict.problem_name}: {verdict.kind} - {verdict.reason}")
        for f in verdict.findings:
            typer.echo(f"  {f}")
        for step in verdict.steps:
            how = f"{step.closed_by} ({step.source})" if step.closed else "not closed"
            typer.echo(f"  step {step.index} (line {step.line}): {how}")
        for m in verdict.messages:
            typer.echo(f"  line {m.pos.line if m.pos.line is not None else '?'}: {m.text}")
        if verdict.proved:
            typer.echo(f"  oracles: {', '.join(verdict.oracles) or 'none (the kernel alone)'}")
        if verdict.final_proof is not None and verdict.proved:
            typer.echo("final proof:\n" + verdict.final_proof)
    if verdict.kind is VerdictKind.INFRASTRUCTURE_ERROR:
        raise typer.Exit(EXIT_INFRA)
    raise typer.Exit(EXIT_OK if verdict.proved else EXIT_FAILED)
