"""Which session checks run in: the heap table, our ROOT files, the record, the choice, and the commands using it.

Facts behind the table (isabelle_env/sessions.py names them): src/HOL/ROOT (HOL, HOL-Library with Library and
Code_Target_Numeral, HOL-Computational_Algebra, HOL-Number_Theory, HOL-Analysis with `sessions` imports),
src/HOL/Library/Library.thy (imports Sum_of_Squares), src/Doc/System/Sessions.thy (`sessions` theories are
loaded again into the session; ROOT grammar), src/Pure/Thy/sessions.scala (`Undefined session(s)`, heap
folders), AFP thys/Symmetric_Polynomials/Vieta.thy (imports only HOL-Library and HOL-Computational_Algebra).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer import Typer
from typer.testing import CliRunner

from cli.commands.isabelle import isabelle_app
from cli.main import app
from isabelle_env.installation import IsabelleInstallation
from isabelle_env.session_registry import SessionRecord, read_sessions, save_session, sessions_path
from isabelle_env.session_select import installation_sessions, select_session
from isabelle_env.sessions import (
    MINIF2F_AFP_SESSION,
    MINIF2F_IMPORTS,
    MINIF2F_SESSION,
    SessionSpec,
    canonical_import,
    choose_session,
    distribution_holds,
    distribution_session,
    library_imports,
    minif2f_spec,
    recorded_session,
    theory_file_imports,
)
from tests.conftest import address_of

ML_ID = "polyml-5.9_x86_64_32-linux"
STANDARD = ("HOL", "HOL-Library", "HOL-Computational_Algebra", "HOL-Number_Theory")

cli = Typer()
cli.add_typer(isabelle_app, name="isabelle")


@pytest.fixture(scope="module")
def minif2f_imports(shared: Path) -> dict[str, dict[str, tuple[str, ...]]]:
    folder = shared / "datasets" / "minif2f" / "isabelle"
    return {
        split: {p.stem: theory_file_imports(p.read_text()) for p in sorted((folder / split).glob("*.thy"))}
        for split in ("valid", "test")
    }


def built(*names: str) -> list:
    return [distribution_session(n) for n in names]


# -------------------------------------------------------------------------------------- what a heap holds


def test_the_distribution_table_follows_the_root_files():
    assert distribution_holds("HOL") == {"Pure", "HOL.HOL", "Main", "Complex_Main"}
    assert {"HOL-Library.Sum_of_Squares", "HOL-Library.Code_Target_Numeral"} <= distribution_holds("HOL-Library")
    number_theory = distribution_holds("HOL-Number_Theory")
    assert distribution_holds("HOL-Computational_Algebra") < number_theory  # a parent's heap is in the child's
    assert "HOL-Analysis.Analysis" not in number_theory
    # HOL-Analysis = HOL + ...: its `sessions` imports are not known to be in its heap as whole theories
    assert distribution_holds("HOL-Analysis") == distribution_holds("HOL") | {"HOL-Analysis.Analysis"}
    assert distribution_holds("Some_AFP_Entry") == frozenset()


def test_import_spellings_and_which_imports_a_heap_can_hold():
    assert canonical_import('"HOL-Library.Sum_of_Squares"') == "HOL-Library.Sum_of_Squares"
    assert canonical_import("HOL.Complex_Main") == "Complex_Main" and canonical_import("HOL.HOL") == "HOL.HOL"
    imports = ["Main", "HOL.Main", "Helper", "../lib/Other", "~~/src/HOL/Library/Multiset", '"HOL-Analysis.Analysis"']
    assert library_imports(imports) == ("Main", "~~/src/HOL/Library/Multiset", "HOL-Analysis.Analysis")
    text = 'theory A\n  imports Main "HOL-Library.Code_Target_Numeral" B\n  keywords "foo" :: thy_decl\nbegin\nend\n'
    assert theory_file_imports(text) == ("Main", "HOL-Library.Code_Target_Numeral", "B")
    assert theory_file_imports("lemma x: True by simp") == ()


# -------------------------------------------------------------------------------------- our sessions


def test_the_minif2f_session_loads_only_what_its_parent_lacks_and_names_other_sessions():
    spec = minif2f_spec()
    assert (spec.name, spec.parent, spec.theories) == (MINIF2F_SESSION, "HOL-Number_Theory", ("HOL-Analysis.Analysis",))
    # theories of sessions that are not ancestors must be imported with `sessions` (Sessions.thy)
    assert spec.sessions == ("HOL-Analysis",)
    assert spec.root_text().splitlines()[2:] == [
        'session "SubgoalXL_MiniF2F" = "HOL-Number_Theory" +',
        '  description "All imports of miniF2F in one heap"',
        "  sessions",
        '    "HOL-Analysis"',
        "  theories",
        '    "HOL-Analysis.Analysis"',
    ]
    assert spec.holds() >= set(MINIF2F_IMPORTS) - {"Symmetric_Polynomials.Vieta"}
    afp = minif2f_spec(afp=True)
    assert afp.name == MINIF2F_AFP_SESSION and afp.sessions == ("HOL-Analysis", "Symmetric_Polynomials")
    assert afp.holds() >= set(MINIF2F_IMPORTS)
    from_hol = minif2f_spec(parent="HOL")  # everything loaded in one session below HOL
    assert from_hol.theories == tuple(i for i in MINIF2F_IMPORTS[2:] if i != "Symmetric_Polynomials.Vieta")
    assert from_hol.sessions == ("HOL-Library", "HOL-Computational_Algebra", "HOL-Number_Theory", "HOL-Analysis")


@pytest.mark.parametrize(
    "name,parent,theories,says",
    [
        ("HOL-Analysis", "HOL", ("HOL-Analysis.Analysis",), "taken by the Isabelle distribution"),
        ("My Session", "HOL", ("HOL-Analysis.Analysis",), "bad session name"),
        ("Mine", "HOL", ("Analysis",), "session-qualified"),
        ("Mine", "HOL", (), "at least one theory"),
    ],
)
def test_bad_session_specs_say_what_is_wrong(name, parent, theories, says):
    with pytest.raises(ValueError, match=says):
        SessionSpec(name, parent, theories)


def test_the_record_round_trips_and_skips_damaged_entries(tmp_path):
    record = SessionRecord(
        MINIF2F_SESSION, str(tmp_path), "Isabelle2025", "HOL-Number_Theory", ("HOL-Analysis.Analysis",), ("/r",)
    )
    save_session(record)
    save_session(record.with_(dirs=("/elsewhere",)))  # same installation and name: replaced
    data = json.loads(sessions_path().read_text())
    data["sessions"].append({"name": "broken"})
    sessions_path().write_text(json.dumps(data))
    (again,) = read_sessions()
    assert again.dirs == ("/elsewhere",) and again.same_home(str(tmp_path) + "/.") and data["format"] == 1


# -------------------------------------------------------------------------------------- the choice


def test_the_session_chosen_for_each_minif2f_import_set(minif2f_imports):
    """Per problem, with the heaps `isabelle install` builds: the smallest one holding every import."""
    available = [*built(*STANDARD), recorded_session(minif2f_spec(), ["/root"])]
    chosen: dict[str, dict[str, int]] = {}
    for split, problems in minif2f_imports.items():
        for imports in problems.values():
            choice = choose_session(imports, available)
            assert choice.complete or choice.missing == ("Symmetric_Polynomials.Vieta",), (imports, choice)
            chosen.setdefault(split, {}).setdefault(choice.session, 0)
            chosen[split][choice.session] += 1
    # Complex_Main alone -> HOL; HOL-Library theories only -> HOL-Library; Computational_Algebra -> its session;
    # Number_Theory -> HOL-Number_Theory; Analysis -> ours; Vieta (AFP) -> the smallest holding the rest
    assert chosen["test"] == {"HOL": 81, "HOL-Library": 4, "HOL-Computational_Algebra": 74, "HOL-Number_Theory": 85}
    assert chosen["valid"] == {"HOL": 177, "HOL-Computational_Algebra": 35, "HOL-Number_Theory": 31, MINIF2F_SESSION: 1}
    # the count: 159 test problems (it says 160) and 67 valid ones import Computational_Algebra,
    # Number_Theory or more; 4 more test problems import HOL-Library theories: all need more than the HOL heap
    for split, n in (("test", 163), ("valid", 67)):
        assert sum(bool(choose_session(i, built("HOL")).missing) for i in minif2f_imports[split].values()) == n


def test_a_run_over_a_whole_split_takes_one_session_for_the_union():
    union = choose_session(MINIF2F_IMPORTS, [*built(*STANDARD), recorded_session(minif2f_spec(), ["/r"])])
    assert (union.session, union.dirs, union.missing) == (MINIF2F_SESSION, ("/r",), ("Symmetric_Polynomials.Vieta",))
    notice = union.notice()
    assert "does not hold Symmetric_Polynomials.Vieta" in notice and "--with-afp" in notice and "--afp" in notice
    with_afp = choose_session(MINIF2F_IMPORTS, [*built(*STANDARD), recorded_session(minif2f_spec(afp=True), ["/a"])])
    assert with_afp.session == MINIF2F_AFP_SESSION and with_afp.complete and with_afp.notice() is None


def test_without_a_session_that_holds_them_the_best_one_is_taken_and_the_notice_says_how_to_build_one():
    choice = choose_session(
        ["Complex_Main", "HOL-Analysis.Analysis", "HOL-Number_Theory.Number_Theory"], built(*STANDARD)
    )
    assert choice.session == "HOL-Number_Theory" and choice.missing == ("HOL-Analysis.Analysis",)
    notice = choice.notice()
    assert notice.startswith("session HOL-Number_Theory (the built session holding the most imports) does not hold")
    assert "HOL-Analysis.Analysis" in notice and "subgoalxl isabelle build-session" in notice and "--session" in notice
    nothing = choose_session(["HOL-Number_Theory.Number_Theory"], [])
    assert nothing.session == "HOL" and nothing.missing == ("HOL-Number_Theory.Number_Theory",)


def test_session_and_config_override_the_choice_and_are_told_when_a_better_one_exists():
    available = built(*STANDARD)
    hol = choose_session(["HOL-Number_Theory.Number_Theory"], available, "HOL")
    assert hol.session == "HOL" and hol.overridden and hol.missing == ("HOL-Number_Theory.Number_Theory",)
    assert hol.better == "HOL-Number_Theory" and "drop --session" in hol.notice()
    fine = choose_session(["Main"], available, "HOL-Library")
    assert fine.session == "HOL-Library" and fine.notice() is None
    mine = recorded_session(minif2f_spec(), ["/r"])
    named = choose_session(["Main"], [*available, mine], MINIF2F_SESSION, extra_dirs=["/given"])
    assert named.dirs == ("/given", "/r")  # the user's folders first, then the ROOT folder it needs
    unbuilt = choose_session(["Main"], available, "HOL-Analysis", where="/opt/Isabelle2025")
    assert unbuilt.unbuilt and "has no built heap in /opt/Isabelle2025" in unbuilt.notice()
    unknown = choose_session(["HOL-Analysis.Analysis"], available, "Someones_Session", extra_dirs=["/x"])
    assert not unknown.known and unknown.dirs == ("/x",) and "not checked" in unknown.notice()


# -------------------------------------------------------------------------------------- where heaps are built


def with_heaps(home: Path, *names: str, folder: str = "heaps") -> None:
    target = home / folder / ML_ID
    target.mkdir(parents=True, exist_ok=True)
    for name in names:
        (target / name).write_bytes(b"heap")


def test_an_installation_offers_its_built_distribution_heaps_and_its_recorded_sessions(fake_isabelle):
    inst = IsabelleInstallation(fake_isabelle, fake_isabelle / "bin" / "isabelle")
    assert [s.name for s in installation_sessions(inst)] == ["HOL"]
    with_heaps(fake_isabelle, "HOL-Library", "HOL-Computational_Algebra", "HOL-Number_Theory", "Unrelated")
    record = SessionRecord(
        MINIF2F_SESSION, str(fake_isabelle), "Isabelle2025", "HOL-Number_Theory", ("HOL-Analysis.Analysis",), ("/r",)
    )
    save_session(record)  # recorded, but its heap is not there (yet): not offered
    assert [s.name for s in installation_sessions(inst)] == list(STANDARD)
    named = select_session(["Main"], MINIF2F_SESSION, isabelle=str(fake_isabelle))  # named anyway: its ROOT dir
    assert named.dirs == ("/r",) and named.unbuilt and "starting it builds the heap first" in named.notice()
    with_heaps(fake_isabelle, MINIF2F_SESSION, folder="heaps_system")
    assert [s.name for s in installation_sessions(inst)][-1] == MINIF2F_SESSION
    choice = select_session(["HOL-Analysis.Analysis"], isabelle=str(fake_isabelle))
    assert (choice.session, choice.dirs, choice.where) == (MINIF2F_SESSION, ("/r",), str(fake_isabelle))


def test_a_running_server_is_matched_with_the_sessions_recorded_for_its_release(standin, tmp_path):
    home = tmp_path / "Isabelle2025"
    from tests.fake_isabelle import install

    install(home)
    with_heaps(home, "HOL-Number_Theory", MINIF2F_SESSION)
    save_session(
        SessionRecord(
            MINIF2F_SESSION, str(home), "Isabelle2025", "HOL-Number_Theory", ("HOL-Analysis.Analysis",), ("/r",)
        )
    )
    server = standin()  # answers the handshake with isabelle_name Isabelle2025
    choice = select_session(["HOL-Analysis.Analysis"], server=address_of(server))
    assert choice.session == MINIF2F_SESSION and choice.dirs == ("/r",) and "Isabelle2025" in choice.where
    other = standin(isabelle_name="Isabelle2024")  # a release nothing is recorded for: HOL, and it says so
    fallback = select_session(["HOL-Analysis.Analysis"], server=address_of(other))
    assert fallback.session == "HOL" and fallback.missing == ("HOL-Analysis.Analysis",) and fallback.where


# -------------------------------------------------------------------------------------- the commands


def received(path: Path, command: str) -> list:
    lines = path.read_text().splitlines() if path.is_file() else []
    return [arg for name, arg in map(json.loads, lines) if name == command]


def number_theory_problem(tmp_path: Path) -> Path:
    path = tmp_path / "nt.thy"
    path.write_text(
        'theory nt imports Complex_Main "HOL-Number_Theory.Number_Theory"\nbegin\n\n'
        'theorem nt: "(2::nat) + 2 = 4"\n  by simp\n\nend\n'
    )
    return path


def test_check_and_verify_start_the_session_holding_the_imports(fake_isabelle, tmp_path, monkeypatch):
    log = tmp_path / "received.jsonl"
    monkeypatch.setenv("FAKE_ISABELLE_RECEIVED", str(log))
    monkeypatch.setenv("SUBGOALXL_CACHE_DIR", str(tmp_path / "cache"))
    problem = number_theory_problem(tmp_path)
    runner = CliRunner()
    plain = runner.invoke(app, ["check", str(problem), "--isabelle", str(fake_isabelle)])
    assert plain.exit_code == 0, plain.output
    assert received(log, "session_start")[-1] == {"session": "HOL"}  # only HOL is built: it says so, once
    assert plain.stderr.count("does not hold HOL-Number_Theory.Number_Theory") == 1
    assert "subgoalxl isabelle build-session" in plain.stderr

    with_heaps(fake_isabelle, "HOL-Library", "HOL-Computational_Algebra", "HOL-Number_Theory")
    result = runner.invoke(app, ["verify", str(problem), str(problem), "--isabelle", str(fake_isabelle), "--json"])
    assert result.exit_code in (0, 1), result.output
    assert received(log, "session_start")[-1] == {"session": "HOL-Number_Theory"} and "note:" not in result.stderr
    assert json.loads(result.stdout)["session"] == "HOL-Number_Theory"  # the verdict records it

    forced = runner.invoke(app, ["check", str(problem), "--isabelle", str(fake_isabelle), "--session", "HOL"])
    assert forced.exit_code == 0 and received(log, "session_start")[-1] == {"session": "HOL"}
    assert "HOL-Number_Theory holds every import: drop --session" in forced.stderr
    bad_dir = runner.invoke(app, ["check", str(problem), "--session", "X", "--session-dir", str(tmp_path)])
    assert bad_dir.exit_code == 2 and "holds no ROOT or ROOTS file" in bad_dir.stderr


def test_build_session_for_your_own_isabelle_then_checks_pick_it(fake_isabelle, tmp_path, monkeypatch):
    args_log, log = tmp_path / "build-args.jsonl", tmp_path / "received.jsonl"
    monkeypatch.setenv("FAKE_BUILD_ARGS", str(args_log))
    monkeypatch.setenv("FAKE_ISABELLE_RECEIVED", str(log))
    runner = CliRunner()
    result = runner.invoke(cli, ["isabelle", "build-session", "--isabelle", str(fake_isabelle), "--json"])
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    root_dir = Path(record["dirs"][0])
    assert record["name"] == MINIF2F_SESSION and record["system_heaps"] is False  # not ours: the user's heaps
    assert (root_dir / "ROOT").read_text() == minif2f_spec().root_text()
    (argv,) = map(json.loads, args_log.read_text().splitlines())
    assert argv[:2] == ["-d", str(root_dir)] and argv[-1] == MINIF2F_SESSION and "system_heaps" not in argv
    # ancestors are built too (the build graph follows parents: sessions.scala build_requirements)
    assert {MINIF2F_SESSION, "HOL-Number_Theory", "HOL-Library"} <= {
        p.name for p in (fake_isabelle / "heaps" / ML_ID).iterdir()
    }

    problem = tmp_path / "an.thy"
    problem.write_text('theory an imports "HOL-Analysis.Analysis" begin\nlemma "True" by simp\nend\n')
    checked = runner.invoke(app, ["check", str(problem), "--isabelle", str(fake_isabelle)])
    assert checked.exit_code == 0, checked.output
    assert received(log, "session_start")[-1] == {"session": MINIF2F_SESSION, "dirs": [str(root_dir)]}
    assert "note:" not in checked.stderr

    checks = {
        c["component"]: c
        for c in json.loads(runner.invoke(app, ["doctor", "--json", "--isabelle", str(fake_isabelle)]).stdout)
    }
    assert checks[f"session {MINIF2F_SESSION}"]["detail"].endswith(f"ROOT in {root_dir}")
    assert checks["miniF2F session"]["status"] == "ok"


def test_build_session_with_an_afp_folder_and_what_it_refuses(fake_isabelle, tmp_path, monkeypatch):
    import io
    import tarfile

    from tests.install_release import afp_archive

    with tarfile.open(fileobj=io.BytesIO(afp_archive()), mode="r:gz") as tar:
        tar.extractall(tmp_path / "afp", filter="data")
    thys = tmp_path / "afp" / "afp-2025-03-17" / "thys"
    runner = CliRunner()
    result = runner.invoke(cli, ["isabelle", "build-session", "--isabelle", str(fake_isabelle), "--afp", str(thys)])
    assert result.exit_code == 0, result.output
    (record,) = read_sessions()
    assert record.name == MINIF2F_AFP_SESSION and record.dirs[1:] == (str(thys),)
    assert record.theories == ("HOL-Analysis.Analysis", "Symmetric_Polynomials.Vieta")

    undefined = runner.invoke(
        cli, ["isabelle", "build-session", "--isabelle", str(fake_isabelle), "--with-afp", "--name", "Mine"]
    )
    assert undefined.exit_code == 2  # the AFP is not registered with this Isabelle: Isabelle says so
    assert 'Undefined session(s): "Symmetric_Polynomials"' in undefined.stderr and "Full output:" in undefined.stderr
    no_afp = runner.invoke(cli, ["isabelle", "build-session", "--isabelle", str(fake_isabelle), "--afp", str(tmp_path)])
    assert no_afp.exit_code == 2 and "not an AFP thys folder" in no_afp.stderr
    bare = runner.invoke(cli, ["isabelle", "build-session", "--theory", "HOL-Analysis.Analysis"])
    assert bare.exit_code == 2 and "--theory needs --name" in bare.stderr
    clash = runner.invoke(
        cli,
        [
            "isabelle",
            "build-session",
            "--isabelle",
            str(fake_isabelle),
            "--name",
            MINIF2F_AFP_SESSION,
            "--theory",
            "HOL-Library.Library",
        ],
    )
    assert clash.exit_code == 2 and "with other contents" in clash.stderr and "pick another --name" in clash.stderr


# -------------------------------------------------------------------------------------- runs


def test_a_run_resolves_its_session_from_the_union_of_the_problems_imports(fake_isabelle, tmp_path):
    from agent.config import RunConfig, parse_config
    from agent.session_choice import resolve_run_session
    from benchmarks.data.problems import load_problems

    with_heaps(fake_isabelle, "HOL-Library", "HOL-Computational_Algebra", "HOL-Number_Theory")
    folder = tmp_path / "problems"
    folder.mkdir()
    number_theory_problem(folder)
    (folder / "plain.thy").write_text('theory plain imports Main begin\ntheorem plain: "True"\n  sorry\nend\n')
    problems = list(load_problems(folder).problems)
    config = parse_config({"isabelle": {"isabelle_path": str(fake_isabelle)}})
    assert config.isabelle.session is None  # unset: chosen per run
    resolved, choice = resolve_run_session(config, problems, None)
    assert resolved.isabelle.session == "HOL-Number_Theory" and choice.complete
    pinned = parse_config({"isabelle": {"isabelle_path": str(fake_isabelle), "session": "HOL", "dirs": ["/d"]}})
    kept, choice = resolve_run_session(pinned, problems, None)
    assert (kept.isabelle.session, kept.isabelle.dirs) == ("HOL", ("/d",)) and choice.better == "HOL-Number_Theory"
    assert isinstance(resolved, RunConfig)


@pytest.mark.ray
def test_eval_checks_in_the_session_recorded_for_the_servers_release(standin, tmp_path, ray_local, monkeypatch):
    from agent.store import RunStore
    from tests.fake_isabelle import install
    from tests.scripted_prover import ScriptedProver
    from tests.test_search import SCRIPT

    home = install(tmp_path / "Isabelle2025")
    with_heaps(home, "HOL-Number_Theory", MINIF2F_SESSION)
    spec = minif2f_spec()
    save_session(SessionRecord(spec.name, str(home), "Isabelle2025", spec.parent, spec.theories, ("/r",)))
    server = standin(rename_theories=True, choose_transcript=ScriptedProver(SCRIPT))
    data = tmp_path / "problems"
    data.mkdir()
    number_theory_problem(data)
    (data / "an.thy").write_text(
        'theory an imports "HOL-Analysis.Analysis" begin\ntheorem an: "(1::nat) = 1"\n  sorry\nend\n'
    )
    address = address_of(server)
    monkeypatch.setenv("SUBGOALXL_ISABELLE_PASSWORD", address.password)
    monkeypatch.setenv("SUBGOALXL_CACHE_DIR", str(tmp_path / "cache"))
    store = tmp_path / "runs.sqlite"
    args = ["eval", "--data", str(data), "--isabelle-server", str(address), "--store", str(store), "--run-id", "s1"]
    result = CliRunner().invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    starts = [arg for name, arg in server.received if name == "session_start"]
    assert starts and all(a == {"session": MINIF2F_SESSION, "dirs": ["/r"]} for a in starts)
    assert "note:" not in result.stderr
    with RunStore(store) as runs:
        assert json.loads(runs.run("s1")["config"])["isabelle"]["session"] == MINIF2F_SESSION


@pytest.mark.isabelle
def test_real_a_number_theory_problem_verifies_in_the_default_configuration(real_isabelle, shared):
    """The issue's case: the shipped human proof of test/amc12_2000_p6 (imports HOL-Number_Theory), verified with
    no --session. In session HOL it ran past the 120 s final check; in one holding the imports, ~1 s."""
    problem = shared / "datasets" / "minif2f" / "isabelle" / "test" / "amc12_2000_p6.thy"
    choice = select_session(theory_file_imports(problem.read_text()), isabelle=str(real_isabelle.home))
    if choice.missing:
        pytest.skip(f"no built session of {real_isabelle.home} holds the imports: {choice.notice()}")
    args = ["verify", str(problem), str(problem), "--isabelle", str(real_isabelle.home), "--no-cache", "--json"]
    result = CliRunner().invoke(app, args)
    verdict = json.loads(result.stdout)
    assert result.exit_code == 0 and verdict["kind"] == "proved", result.output
    assert verdict["session"] == choice.session != "HOL"
