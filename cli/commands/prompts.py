"""`subgoalxl prompts list|show` and `subgoalxl extend-tokenizer`: what the model sees, and in how many tokens.

Registered in agent/cli.py as `app.add_typer(prompts_app, name="prompts")` and
`app.command(name="extend-tokenizer")(extend_tokenizer)`. `prompts show` renders a template on a real problem
(a miniF2F checkout or JSONL rows, through `benchmarks.data.problems.load_problems`) and says where each field came
from, so a user can read the exact prompt a generator will get before spending GPU hours on it.
Exit 0: done; 1: extend-tokenizer's round trip was not exact; 2: bad input (the message says what and how).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from cli.options import fail

EXIT_OK, EXIT_FAILED = 0, 1

prompts_app = typer.Typer(
    name="prompts",
    help="Inspect the versioned prompt templates, rendered on real problems.",
    no_args_is_help=True,
    add_completion=False,
)

JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON instead of text")]


def _roles_by_prompt() -> dict[str, str]:
    from generators.roles import DEFAULT_PROMPTS

    by_prompt = {name: str(role) for role, name in DEFAULT_PROMPTS.items()}
    by_prompt.setdefault("posterior", "scorer")
    return by_prompt


@prompts_app.command("list")
def list_prompts(as_json: JsonOpt = False) -> None:
    """Every prompt template shipped, each version, with its role, fields, stop strings and hash."""
    from generators.prompt_templates import available_prompts, load_prompt

    roles = _roles_by_prompt()
    rows = []
    for name, versions in available_prompts().items():
        for version in versions:
            template = load_prompt(name, version)
            rows.append(
                {
                    "name": name,
                    "version": version,
                    "sha256": template.sha256,
                    "used_by": roles.get(name) or template.role,
                    "newest": version == versions[-1],
                    "fields": list(template.fields),
                    "stop": list(template.stop),
                    "description": template.description,
                }
            )
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        newest = " (newest)" if row["newest"] else ""
        typer.echo(f"{row['name']}.v{row['version']}@{row['sha256']}{newest}  used by: {row['used_by'] or '-'}")
        typer.echo(f"  {row['description']}")
        typer.echo(f"  fields: {', '.join(row['fields'])}; stop: {json.dumps(row['stop'])}")


def _fill(template: Any, role: Any, problem: Any) -> tuple[str, dict[str, str]]:
    """The rendered prompt and, per field, where its value came from."""
    from generators.parsing import theorem_text
    from generators.roles import NOT_GIVEN, render_prompt

    def given(value: str | None, what: str) -> str:
        return f"{what} ({len(value.strip())} chars)" if (value or "").strip() else f"not in the data: {NOT_GIVEN!r}"

    sources = {
        "informal_statement": given(problem.informal_statement, "from the problem"),
        "informal_proof": given(problem.informal_proof, "from the problem"),
        "formal_statement": given(problem.formal_statement, "from the problem"),
    }
    if role is not None:
        rendered = render_prompt(role, problem, template)
        if rendered.subgoals is not None:
            how = "the problem's subgoals" if rendered.subgoals_source == "subgoals" else "the informal proof's lines"
            sources["subgoals"] = f"{len(rendered.subgoals)} step(s) from {how} (no subgoal model ran)"
        if "proof_comment" in template.fields:
            sources["proof_comment"] = {
                "subgoals": "the problem's subgoals as an Isar comment",
                "informal_proof": "the informal proof as an Isar comment",
            }.get(rendered.subgoals_source or "", "empty: no subgoals or informal proof (the model writes its own)")
        return rendered.text, {f: sources.get(f, "?") for f in template.fields}
    values = {
        "informal_statement": (problem.informal_statement or "").strip() or NOT_GIVEN,
        "informal_proof": (problem.informal_proof or "").strip() or NOT_GIVEN,
        "formal_statement": (problem.formal_statement or "").strip(),
        "theorem": theorem_text(problem.formal_statement or "", "sorry").rstrip(),
    }
    sources["theorem"] = "the formal statement with `sorry` (a candidate proof goes here)"
    for name in template.fields:  # e.g. repair's failed_proof: shown as a placeholder, not invented
        if name not in values:
            values[name] = "{{" + name + "}}"
            sources[name] = "not filled: a problem does not have it (left as the placeholder)"
    return template.render(values), {f: sources[f] for f in template.fields}


def _count_tokens(tokenizer_dir: Path, text: str) -> int:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir, local_files_only=True)
    return len(tokenizer(text).input_ids)  # as the transformers backend encodes a prompt


@prompts_app.command("show")
def show(
    role: Annotated[
        str,
        typer.Argument(help="statement, subgoal or proof (or a template name, e.g. posterior)", show_default=False),
    ],
    problem: Annotated[
        str | None, typer.Option("--problem", help="problem name (default: the first in --data)", show_default=False)
    ] = None,
    data: Annotated[
        Path | None,
        typer.Option("--data", help="miniF2F checkout, folder or .thy, or a .jsonl of problems", show_default=False),
    ] = None,
    version: Annotated[
        int | None, typer.Option("--version", min=1, help="template version (default: newest)", show_default=False)
    ] = None,
    tokenizer: Annotated[
        Path | None,
        typer.Option("--tokenizer", help="model or tokenizer folder: count the prompt's tokens", show_default=False),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Render a prompt template (name, version, hash) on a real problem and say where each field came from."""
    from generators.prompt_templates import load_prompt
    from generators.roles import DEFAULT_PROMPTS, Problem, Role

    chosen_role = Role(role) if role in {r.value for r in Role} else None
    prompt_name = DEFAULT_PROMPTS[chosen_role] if chosen_role is not None else role
    try:
        template = load_prompt(prompt_name, version)
    except ValueError as exc:
        raise fail(f"{exc} (roles: {', '.join(r.value for r in Role)})") from None
    if chosen_role is None and template.role in {r.value for r in Role}:
        chosen_role = Role(template.role)  # e.g. release_proof: rendered as its role renders it
    if problem is not None and data is None:
        raise fail("--problem needs --data PATH (a miniF2F checkout or a .jsonl of problems)")
    chosen: Any = None
    if data is None:
        text, fields = (
            template.body,
            {f: "not filled: give --data PATH to render on a problem" for f in template.fields},
        )
    else:
        from benchmarks.data.problems import ProblemLoadError, load_problems

        try:
            found = load_problems(data)
            chosen = found.by_name(problem) if problem else found.problems[0]
        except (ProblemLoadError, ValueError) as exc:
            raise fail(str(exc)) from None
        row = Problem(
            problem_name=chosen.name,
            informal_statement=chosen.informal_statement,
            informal_proof=chosen.informal_proof,
            formal_statement=chosen.formal_statement,
        )
        try:
            text, fields = _fill(template, chosen_role, row)
        except ValueError as exc:
            raise fail(str(exc)) from None
    tokens = None
    if tokenizer is not None:
        try:
            tokens = _count_tokens(tokenizer, text)
        except OSError as exc:
            raise fail(f"cannot load a tokenizer from {tokenizer}: {exc}") from None
    if as_json:
        out = {
            "prompt": template.ref.to_json(),
            "role": str(chosen_role) if chosen_role else None,
            "problem": None
            if chosen is None
            else {"name": chosen.name, "split": chosen.split, "source": chosen.source},
            "fields": fields,
            "stop": list(template.stop),
            "chars": len(text),
            "tokens": tokens,
            "text": text,
        }
        typer.echo(json.dumps(out, indent=2, ensure_ascii=False))
        return
    typer.echo(f"prompt {template.ref} ({template.description})")
    if chosen is not None:
        typer.echo(f"problem {chosen.name} ({chosen.split or 'no split'}, {chosen.source})")
    for name, source in fields.items():
        typer.echo(f"  {{{{{name}}}}}: {source}")
    count = f"{tokens} tokens ({tokenizer})" if tokens is not None else "tokens: give --tokenizer DIR to count"
    typer.echo(f"{len(text)} chars; {count}; stop {json.dumps(list(template.stop))}")
    typer.echo("-" * 80)
    typer.echo(text)


def extend_tokenizer(
    model_dir: Annotated[Path, typer.Argument(help="local model folder (model + tokenizer)", show_default=False)],
    corpus: Annotated[
        list[Path],
        typer.Option(
            "--corpus",
            help="repeatable: a folder of .thy (e.g. miniF2F isabelle/), .thy, .jsonl, or .tar.gz of .jsonl",
            show_default=False,
        ),
    ],
    out: Annotated[Path, typer.Option("--out", help="new (empty) folder for the extended model", show_default=False)],
    top: Annotated[int, typer.Option("--top", min=0, help="Isabelle symbols to add (largest savings first)")] = 64,
    keywords: Annotated[int, typer.Option("--keywords", min=0, help="also add this many Isar keywords")] = 0,
    as_json: JsonOpt = False,
) -> None:
    """Add the most token-saving Isabelle symbols to a model's tokenizer; save the model as a new version."""
    from generators.tokenizer_extension import CorpusError, read_corpus
    from generators.tokenizer_extension import extend_tokenizer as extend

    if not (model_dir / "config.json").is_file():
        raise fail(f"{model_dir} is not a model folder (no config.json)")
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # keep the output to the report
    try:
        texts = read_corpus(corpus)
        report = extend(model_dir, texts, out, top=top, keywords=keywords)
    except (CorpusError, FileExistsError, OSError) as exc:
        raise fail(str(exc)) from None
    if as_json:
        typer.echo(json.dumps(report.to_json(), indent=2, ensure_ascii=False))
    else:
        rows = [*report.parts.items(), ("total", report.total)]
        width = min(max(len(name) for name, _ in rows), 60)
        typer.echo(f"{'corpus':<{width}} {'texts':>6} {'chars':>8} {'tokens':>8} {'after':>8} tok/char  after  saved")
        for name, part in rows:
            shown_name = name if len(name) <= width else "..." + name[-(width - 3) :]
            typer.echo(
                f"{shown_name:<{width}} {part['texts']:>6} {part['chars']:>8} {part['tokens_before']:>8} "
                f"{part['tokens_after']:>8} {part['tokens_per_char_before']:>8.3f} "
                f"{part['tokens_per_char_after']:>6.3f} {100 * float(part['savings'] or 0):>5.1f}%"
            )
        shown = ", ".join(
            f"{str(t['text']).replace(' ', '␣')} (x{t['count']}, {t['pieces']} pieces)" for t in report.added[:8]
        )
        typer.echo(f"added {len(report.added)} tokens ({report.vocab_before} -> {report.vocab_after}): {shown}, ...")
        trip = report.round_trip
        exact = "exact" if trip["exact"] else f"NOT exact, e.g. {trip['failures'][0]}"
        typer.echo(f"round trip decode(encode(text)) == text: {exact} on {trip['texts']} texts")
        if report.generation:
            typer.echo(f"the extended model loads and generates ({report.generation['completion_tokens']} tokens)")
        typer.echo(f"saved to {report.out_dir} (report: tokenizer_extension.json)")
    raise typer.Exit(EXIT_OK if report.round_trip["exact"] else EXIT_FAILED)
