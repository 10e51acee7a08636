"""`subgoalxl isabelle install|list|remove|build-session`: from nothing to a working, recorded Isabelle.

Commands import their machinery lazily so `subgoalxl --help` stays instant. Exit 0: done; 2: the install,
build or removal failed (the message names the cause and the fix); 130: interrupted (143: SIGTERM).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from cli.options import fail, interrupted_code

isabelle_app = typer.Typer(
    help="Install, list and remove Isabelle releases (with the heaps miniF2F needs) in the data folder.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@isabelle_app.command()
def install(
    version: Annotated[
        str | None,
        typer.Option(help="release, e.g. Isabelle2025 (default: read from --archive/--url, else Isabelle2025)"),
    ] = None,
    directory: Annotated[
        Path | None,
        typer.Option("--dir", help="install into DIR/VERSION (default: the data folder's isabelle/VERSION)"),
    ] = None,
    with_afp: Annotated[
        bool, typer.Option("--with-afp", help="also fetch the matching AFP (miniF2F needs Symmetric_Polynomials)")
    ] = False,
    url: Annotated[
        str | None,
        typer.Option(
            help="archive URL or mirror base URL (default: $SUBGOALXL_ISABELLE_URL, else isabelle.in.tum.de)",
            show_default=False,
        ),
    ] = None,
    archive: Annotated[
        Path | None, typer.Option(help="install from this downloaded .tar.gz instead", show_default=False)
    ] = None,
    sha256: Annotated[str | None, typer.Option(help="expected SHA-256 of the archive", show_default=False)] = None,
    afp_url: Annotated[
        str | None, typer.Option(help="AFP archive URL (default: $SUBGOALXL_AFP_URL, else the known release)")
    ] = None,
    afp_archive: Annotated[Path | None, typer.Option(help="AFP .tar.gz already on disk", show_default=False)] = None,
    no_build: Annotated[bool, typer.Option("--no-build", help="skip building the heaps")] = False,
    no_session: Annotated[
        bool,
        typer.Option("--no-session", help="skip building SubgoalXL_MiniF2F (one heap with every miniF2F import)"),
    ] = False,
    jobs: Annotated[int, typer.Option("--jobs", "-j", help="parallel build jobs (0: up to 4)")] = 0,
    build_timeout: Annotated[float, typer.Option(help="seconds allowed for the heap build")] = 6 * 3600.0,
    force: Annotated[
        bool, typer.Option("--force", help="download and unpack again even if this version is installed")
    ] = False,
) -> None:
    """Download, verify, unpack, record and build an Isabelle release (idempotent: reruns skip finished steps)."""
    from cli.progress import RichReporter
    from isabelle_env.install.errors import InstallError
    from isabelle_env.install.installer import InstallOptions, install_isabelle

    try:
        options = InstallOptions(
            version=version,
            root=directory,
            url=url,
            archive=archive,
            sha256=sha256,
            with_afp=with_afp,
            afp_url=afp_url,
            afp_archive=afp_archive,
            build=not no_build,
            minif2f_session=not no_session,
            jobs=jobs,
            build_timeout=build_timeout,
            force=force,
        )
        record = install_isabelle(options, RichReporter())
    except InstallError as exc:
        raise fail(str(exc)) from None
    except KeyboardInterrupt as exc:
        typer.echo(
            "interrupted: a partial download is kept and resumed by the same command; unfinished unpacking is "
            "cleaned up by the next run; an unpacked release stays recorded without the missing heaps",
            err=True,
        )
        raise typer.Exit(interrupted_code(exc)) from None
    state = "ready" if record.complete else "installed, heaps not built (--no-build)" if no_build else "installed"
    typer.echo(f"{record.version} {state}: {record.home}")
    if record.afp_thys:
        typer.echo(f"AFP: {record.afp_thys}")


@isabelle_app.command("list")
def list_(as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of text")] = False) -> None:
    """Show the releases installed by `subgoalxl isabelle install`: version, folder, heaps, size."""
    from isabelle_env.install.installer import human_size, list_installations

    found = list_installations()
    if as_json:
        typer.echo(json.dumps([i.to_json() for i in found], indent=2))
        return
    if not found:
        typer.echo("no Isabelle installed by subgoalxl; run `subgoalxl isabelle install`")
        return
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table(title="Isabelle installations")
    for column in ("version", "folder", "heaps", "AFP", "size"):
        table.add_column(column, overflow="fold")
    for item in found:
        where = escape(item.record.home) if item.present else f"[red]missing:[/] {escape(item.record.home)}"
        afp = "yes" if item.record.afp_thys else "-"
        size = human_size(item.size_bytes) if item.present else "-"
        table.add_row(item.record.version, where, escape(", ".join(item.heaps) or "none"), afp, size)
    Console().print(table)


@isabelle_app.command()
def remove(
    version: Annotated[str, typer.Argument(help="the release to remove, e.g. Isabelle2025", show_default=False)],
) -> None:
    """Delete an installed release (its folder, heaps and AFP inside it) and its record."""
    from cli.progress import RichReporter
    from isabelle_env.install.errors import InstallError
    from isabelle_env.install.installer import remove_installation

    try:
        record = remove_installation(version, RichReporter())
    except InstallError as exc:
        raise fail(str(exc)) from None
    typer.echo(f"removed {record.version} ({record.home})")


@isabelle_app.command("build-session")
def build_session_command(
    isabelle: Annotated[
        str | None,
        typer.Option("--isabelle", help="the Isabelle to build for (default: $ISABELLE_HOME, PATH, else recorded)"),
    ] = None,
    afp: Annotated[
        Path | None,
        typer.Option(
            "--afp", help="an AFP thys folder to include (adds Symmetric_Polynomials.Vieta)", show_default=False
        ),
    ] = None,
    with_afp: Annotated[
        bool, typer.Option("--with-afp", help="include Vieta: the AFP is already registered with this Isabelle")
    ] = False,
    name: Annotated[str | None, typer.Option("--name", help="session name (default: SubgoalXL_MiniF2F[_AFP])")] = None,
    parent: Annotated[str | None, typer.Option("--parent", help="parent session (default: HOL-Number_Theory)")] = None,
    theories: Annotated[
        list[str] | None,
        typer.Option("--theory", help="a qualified theory to hold instead of the miniF2F ones (repeatable)"),
    ] = None,
    jobs: Annotated[int, typer.Option("--jobs", "-j", help="parallel build jobs (0: up to 4)")] = 0,
    build_timeout: Annotated[float, typer.Option(help="seconds allowed for the build")] = 6 * 3600.0,
    as_json: Annotated[bool, typer.Option("--json", help="print the recorded session as JSON")] = False,
) -> None:
    """Write and build a session whose heap holds every miniF2F import, and record it: checks then pick it."""
    from cli.progress import RichReporter
    from isabelle_env.errors import IsabelleError
    from isabelle_env.install.errors import InstallError
    from isabelle_env.installation import find_isabelle
    from isabelle_env.session_build import SessionBuildOptions, build_session
    from isabelle_env.sessions import MINIF2F_PARENT, SessionSpec, minif2f_spec

    extra: tuple[str, ...] = ()
    if afp is not None:
        thys = afp.expanduser().resolve()
        if not (thys / "ROOTS").is_file():
            raise fail(f"--afp {afp} is not an AFP thys folder (no ROOTS file in it): pass AFP_RELEASE/thys")
        if not (thys / "Symmetric_Polynomials").is_dir():
            raise fail(f"--afp {afp} has no Symmetric_Polynomials entry, which two miniF2F problems import")
        extra = (str(thys),)
    try:
        if theories:
            if not name:
                raise ValueError("--theory needs --name NAME for the session that holds them")
            spec = SessionSpec(name, parent or MINIF2F_PARENT, tuple(theories))
        else:
            spec = minif2f_spec(afp=bool(extra) or with_afp, parent=parent or MINIF2F_PARENT)
            if name:
                spec = SessionSpec(name, spec.parent, spec.theories, spec.description)
        options = SessionBuildOptions(spec, extra_dirs=extra, jobs=jobs, timeout=build_timeout)
        installation = find_isabelle(isabelle)
        record = build_session(installation, options, RichReporter())
    except ValueError as exc:
        raise fail(str(exc)) from None
    except (InstallError, IsabelleError) as exc:
        raise fail(str(exc)) from None
    except KeyboardInterrupt as exc:
        typer.echo("interrupted: the build was stopped; run the same command to go on", err=True)
        raise typer.Exit(interrupted_code(exc)) from None
    if as_json:
        typer.echo(json.dumps(record.to_json(), indent=2))
    else:
        typer.echo(f"session {record.name} ready for {record.isabelle_version} at {record.isabelle_home}")
        typer.echo(f"  ROOT: {record.dirs[0]}/ROOT; checks whose imports it holds pick it by default")
