"""`subgoalxl isabelle install|list|remove` against a loopback HTTP server and small stand-in release archives.

Faults covered: cut connections (resumed with Range), servers ignoring Range, 404, no network, wrong
Content-Length, checksum mismatch, truncated and corrupt archives, unsafe members, a full disk, an
interrupted unpack, a failed and a hung heap build. The real download runs only with SUBGOALXL_TEST_NETWORK=1.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import tarfile
from pathlib import Path

import pytest
from typer import Typer
from typer.testing import CliRunner

from cli.commands.isabelle import isabelle_app
from isabelle_env.errors import IsabelleNotFoundError
from isabelle_env.install import installer as isabelle_install
from isabelle_env.install.download import download
from isabelle_env.install.registry import install_lock, read_records, registry_path
from isabelle_env.install.releases import DEFAULT_VERSION, MINIF2F_SESSIONS
from isabelle_env.installation import find_isabelle
from isabelle_env.session_registry import read_sessions
from isabelle_env.sessions import MINIF2F_AFP_SESSION, MINIF2F_SESSION, minif2f_spec
from tests.install_http import FileServer
from tests.install_release import ML_IDENTIFIER, afp_archive, member, release_archive, write
from tests.supervision import remaining

ARCHIVE = "Isabelle2025_linux.tar.gz"
AFP = "afp-2025-03-17.tar.gz"

cli = Typer()
cli.add_typer(isabelle_app, name="isabelle")


@pytest.fixture(scope="module")
def release() -> bytes:
    return release_archive()


@pytest.fixture
def env(tmp_path, monkeypatch):
    """Private data and cache folders, no Isabelle on PATH or in ISABELLE_HOME, no pauses between retries."""
    data, cache = tmp_path / "data", tmp_path / "cache"
    monkeypatch.setenv("SUBGOALXL_DATA_DIR", str(data))
    monkeypatch.setenv("SUBGOALXL_CACHE_DIR", str(cache))
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    for name in ("ISABELLE_HOME", "SUBGOALXL_ISABELLE_URL", "SUBGOALXL_AFP_URL", "FAKE_BUILD_FAIL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr("isabelle_env.install.download.RETRY_DELAYS", (0.0, 0.0, 0.0))
    monkeypatch.setattr(isabelle_install, "platform_suffix", lambda: "linux")
    monkeypatch.setattr(isabelle_install, "KNOWN_SHA256", {})  # the stand-in is not the real release
    monkeypatch.setenv("COLUMNS", "250")  # rich wraps nothing in the captured output
    return data / "isabelle"


@pytest.fixture
def server(release):
    srv = FileServer(files={ARCHIVE: release, AFP: afp_archive()}).start()
    yield srv
    srv.stop()


@pytest.fixture
def runner():
    return CliRunner()


def install(runner, *args: str):
    return runner.invoke(cli, ["isabelle", "install", *args])


def downloads(tmp_path: Path) -> list[str]:
    folder = tmp_path / "cache" / "downloads"
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def assert_nothing_half_done(root: Path) -> None:
    """No final folder, no staging folder, no record."""
    assert not (root / DEFAULT_VERSION).exists()
    staging = [p.name for p in root.iterdir() if p.name.startswith(".Isabelle")] if root.exists() else []
    assert staging == []
    assert read_records() == {}


# ------------------------------------------------------------------------------------------- the good path


def test_install_downloads_unpacks_builds_records_and_doctor_finds_it(env, server, runner, release, tmp_path):
    result = install(runner, "--url", server.base)
    assert result.exit_code == 0, result.output
    home = env / DEFAULT_VERSION
    assert result.stdout.strip() == f"{DEFAULT_VERSION} ready: {home}"
    assert "Finished HOL-Number_Theory" in result.stderr and "heaps built in" in result.stderr
    assert os.access(home / "bin" / "isabelle", os.X_OK) and (home / "contrib" / "z3-4.4" / "current").is_symlink()
    built = sorted(p.name for p in (home / "heaps" / ML_IDENTIFIER).iterdir() if p.is_file())
    assert built == sorted(["Pure", *MINIF2F_SESSIONS, MINIF2F_SESSION])  # system heaps: inside the installation
    assert (home / "subgoalxl-build.log").read_text().startswith(f"$ {home / 'bin' / 'isabelle'} build -o system_heaps")
    (session,) = read_sessions()  # our session with every miniF2F import, written, built and recorded
    root_dir = env / "sessions" / MINIF2F_SESSION
    assert (session.name, session.isabelle_home, session.dirs) == (MINIF2F_SESSION, str(home), (str(root_dir),))
    assert (root_dir / "ROOT").read_text() == minif2f_spec().root_text() and session.system_heaps
    build_log = (env / "logs" / f"build-session-{MINIF2F_SESSION}-{DEFAULT_VERSION}.log").read_text()
    assert build_log.startswith(f"$ {home / 'bin' / 'isabelle'} build -d {root_dir} -o system_heaps -b")

    record = read_records()[DEFAULT_VERSION]
    assert record.complete and record.home == str(home) and set(MINIF2F_SESSIONS) <= set(record.heaps)
    assert record.sha256 == hashlib.sha256(release).hexdigest() and record.source == server.url(ARCHIVE)
    assert json.loads(registry_path().read_text())["format"] == 1
    assert downloads(tmp_path) == []  # the archive is deleted once installed
    assert [r.range for r in server.requests] == [None]

    found = find_isabelle()  # no ISABELLE_HOME, nothing on PATH: the recorded one
    assert found.found_via == "recorded" and found.home == home

    from cli.main import app

    checks = {c["component"]: c for c in json.loads(runner.invoke(app, ["doctor", "--json"]).stdout)}
    assert checks["Isabelle"]["status"] == "ok" and "via recorded" in checks["Isabelle"]["detail"]
    assert checks["Isabelle heaps"]["status"] == "ok"
    assert checks[f"session {MINIF2F_SESSION}"]["detail"].startswith("recorded: holds 7 of 8 miniF2F imports")
    assert checks["session HOL-Number_Theory"]["detail"].endswith(
        "lacks HOL-Analysis.Analysis, Symmetric_Polynomials.Vieta"
    )
    assert checks["miniF2F session"]["status"] == "ok" and "--with-afp" in checks["miniF2F session"]["fix"]
    provers = checks["Sledgehammer provers"]
    assert provers["detail"] == "found: E, Vampire, Z3; not found: cvc5, veriT" and provers["status"] == "warn"
    assert "subgoalxl isabelle install" in provers["fix"]

    again = install(runner, "--url", server.base)  # idempotent: nothing downloaded, nothing rebuilt
    assert again.exit_code == 0 and "already installed" in again.stderr and len(server.requests) == 1


def test_list_and_remove(env, server, runner, monkeypatch):
    assert "no Isabelle installed" in runner.invoke(cli, ["isabelle", "list"]).stdout
    monkeypatch.setenv("SUBGOALXL_ISABELLE_URL", server.base)  # a mirror, given by environment
    assert install(runner, "--no-build").exit_code == 0
    (listed,) = json.loads(runner.invoke(cli, ["isabelle", "list", "--json"]).stdout)
    assert listed["version"] == DEFAULT_VERSION and listed["present"] and listed["heaps"] == ["Pure"]
    assert listed["size_bytes"] > 200_000 and listed["complete"] is False
    text = runner.invoke(cli, ["isabelle", "list"]).stdout
    assert DEFAULT_VERSION in text and "Pure" in text

    removed = runner.invoke(cli, ["isabelle", "remove", DEFAULT_VERSION])
    assert removed.exit_code == 0, removed.output
    assert not (env / DEFAULT_VERSION).exists() and read_records() == {}
    assert [p.name for p in env.iterdir() if p.name.startswith(".Isabelle")] == []
    with pytest.raises(IsabelleNotFoundError, match="subgoalxl isabelle install"):
        find_isabelle()
    again = runner.invoke(cli, ["isabelle", "remove", DEFAULT_VERSION])
    assert again.exit_code == 2 and "is not installed" in again.stderr


def test_offline_install_from_an_archive_on_disk(env, runner, tmp_path):
    archive = write(tmp_path / "Isabelle2024_linux.tar.gz", release_archive("Isabelle2024"))
    result = install(runner, "--archive", str(archive), "--no-build")  # version read from the file name
    assert result.exit_code == 0, result.output
    assert (env / "Isabelle2024" / "bin" / "isabelle").is_file() and archive.exists()  # the user's file is kept
    record = read_records()["Isabelle2024"]
    assert record.heaps == ("Pure",) and not record.complete and record.source == str(archive)

    wrong = install(runner, "--archive", str(archive), "--version", "Isabelle2025", "--no-build")
    assert wrong.exit_code == 2 and "holds Isabelle2024, not Isabelle2025: pass --version Isabelle2024" in wrong.stderr
    assert not (env / "Isabelle2025").exists()


def test_a_complete_but_unrecorded_tree_is_adopted(env, server, runner):
    assert install(runner, "--url", server.base, "--no-build").exit_code == 0
    registry_path().unlink()  # as if killed between the rename and the record
    with pytest.raises(IsabelleNotFoundError):
        find_isabelle()
    result = install(runner, "--url", server.base, "--no-build")
    assert result.exit_code == 0 and "from an earlier run" in result.stderr and len(server.requests) == 1
    assert find_isabelle().found_via == "recorded"


def test_a_hand_installed_tree_is_never_adopted_replaced_or_deleted(env, server, runner, tmp_path):
    mine = tmp_path / "mine" / DEFAULT_VERSION
    write(mine / "bin" / "isabelle", b"#!/bin/sh\necho Isabelle2025\n").chmod(0o755)
    for extra in ([], ["--force"]):
        result = install(runner, "--url", server.base, "--dir", str(mine.parent), *extra)
        assert result.exit_code == 2 and f"set ISABELLE_HOME={mine}" in result.stderr
    assert sorted(p.name for p in mine.rglob("*")) == ["bin", "isabelle"] and server.requests == []

    assert install(runner, "--url", server.base, "--no-build").exit_code == 0
    ours = env / DEFAULT_VERSION
    (ours / ".subgoalxl-install.json").unlink()  # as if someone swapped the folder for another one
    result = runner.invoke(cli, ["isabelle", "remove", DEFAULT_VERSION])
    assert result.exit_code == 2 and "left alone" in result.stderr and ours.is_dir() and read_records() == {}


def test_afp_is_unpacked_and_registered_in_the_installations_roots(env, server, runner, tmp_path):
    result = install(runner, "--url", server.base, "--no-build", "--with-afp", "--afp-url", server.url(AFP))
    assert result.exit_code == 0, result.output
    home = env / DEFAULT_VERSION
    thys = home / "afp" / "thys"
    assert (thys / "Symmetric_Polynomials" / "ROOT").is_file()
    assert (home / "ROOTS").read_text().splitlines() == ["src/Pure", "src/HOL", str(thys)]
    assert read_records()[DEFAULT_VERSION].afp_thys == str(thys)
    assert not list(home.glob(".afp.partial-*")) and downloads(tmp_path) == []

    again = install(runner, "--url", server.base, "--no-build", "--with-afp")
    assert again.exit_code == 0 and (home / "ROOTS").read_text().count(str(thys)) == 1

    other = write(tmp_path / "afp-other.tar.gz", afp_archive("afp-x", with_entry=False))
    swapped = install(runner, "--no-build", "--afp-archive", str(other))
    assert swapped.exit_code == 0 and "has no Symmetric_Polynomials" in swapped.stderr
    assert (thys / "Other_Entry").is_dir() and not (thys / "Symmetric_Polynomials").exists()


def test_afp_for_a_release_without_a_known_snapshot_says_how_to_get_it(env, runner, tmp_path):
    archive = write(tmp_path / "Isabelle2024_linux.tar.gz", release_archive("Isabelle2024"))
    result = install(runner, "--archive", str(archive), "--no-build", "--with-afp")
    assert result.exit_code == 2 and "no AFP release is recorded for Isabelle2024" in result.stderr
    assert "--afp-url" in result.stderr


# ------------------------------------------------------------------------------------------- downloads


def test_a_cut_connection_is_resumed_with_a_range_request(env, server, runner, release):
    server.faults.cut_after = len(release) // 3
    result = install(runner, "--url", server.base, "--no-build")
    assert result.exit_code == 0, result.output
    first, second = server.requests
    assert first.range is None and first.sent == len(release) // 3
    assert second.range == f"bytes={len(release) // 3}-" and second.status == 206
    assert server.bytes_sent < 2 * len(release)
    assert read_records()[DEFAULT_VERSION].sha256 == hashlib.sha256(release).hexdigest()


def test_a_partial_download_survives_the_run_and_the_next_run_resumes_it(env, server, runner, release, tmp_path):
    server.faults.cut_after, server.faults.cut_times = 40_000, 4  # every attempt of the first run is cut
    first = install(runner, "--url", server.base, "--no-build")
    assert first.exit_code == 2 and "run the same command again to resume" in first.stderr
    assert downloads(tmp_path) == [f"{ARCHIVE}.part", f"{ARCHIVE}.part.json"]
    assert (tmp_path / "cache" / "downloads" / f"{ARCHIVE}.part").stat().st_size == 160_000
    assert not (env / DEFAULT_VERSION).exists()

    second = install(runner, "--url", server.base, "--no-build")
    assert second.exit_code == 0, second.output
    assert server.requests[4].range == "bytes=160000-" and server.bytes_sent == len(release)
    assert "resumed an earlier download after 160000 bytes" in second.stderr and downloads(tmp_path) == []


def test_a_server_that_ignores_range_is_read_again_from_the_start(env, server, runner, release):
    server.faults.cut_after, server.faults.ignore_range = 50_000, True
    result = install(runner, "--url", server.base, "--no-build")
    assert result.exit_code == 0, result.output
    assert server.requests[1].range == "bytes=50000-" and server.requests[1].status == 200
    assert read_records()[DEFAULT_VERSION].sha256 == hashlib.sha256(release).hexdigest()


def test_wrong_url_404(env, server, runner, tmp_path):
    result = install(runner, "--url", server.base, "--version", "Isabelle2024")
    assert result.exit_code == 2
    assert "no Isabelle2024_linux.tar.gz found at" in result.stderr and "HTTP 404" in result.stderr
    assert "--version" in result.stderr and "--archive" in result.stderr
    assert downloads(tmp_path) == [] and read_records() == {}


def test_no_network(env, runner, tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = install(runner, "--url", f"http://127.0.0.1:{port}/mirror")
    assert result.exit_code == 2
    assert "cannot reach 127.0.0.1" in result.stderr and "--archive FILE" in result.stderr
    assert downloads(tmp_path) == []


def test_a_server_announcing_more_than_it_sends_is_a_size_mismatch(env, server, runner, tmp_path):
    server.faults.extra_length = 100
    result = install(runner, "--url", server.base)
    assert result.exit_code == 2 and "announced" in result.stderr and "another mirror (--url)" in result.stderr
    assert downloads(tmp_path) == [] and not (env / DEFAULT_VERSION).exists()


def test_checksum_mismatch(env, server, runner, tmp_path, monkeypatch):
    result = install(runner, "--url", server.base, "--sha256", "0" * 64)
    assert result.exit_code == 2 and "has SHA-256" in result.stderr and "but --sha256 is" in result.stderr
    assert downloads(tmp_path) == []
    assert_nothing_half_done(env)
    bad = install(runner, "--url", server.base, "--sha256", "xyz")
    assert bad.exit_code == 2 and "is not a SHA-256" in bad.stderr
    monkeypatch.setattr(isabelle_install, "KNOWN_SHA256", {ARCHIVE: "1" * 64})
    known = install(runner, "--url", server.base)
    assert known.exit_code == 2 and "but the known checksum of this release is 111" in known.stderr
    assert_nothing_half_done(env)


def test_full_disk_is_refused_before_anything_is_written(env, server, runner, monkeypatch, tmp_path, release):
    monkeypatch.setattr(isabelle_install, "free_bytes", lambda path: 10_000)
    result = install(runner, "--url", server.base)
    assert result.exit_code == 2 and "not enough free disk space" in result.stderr and "--dir DIR" in result.stderr
    assert downloads(tmp_path) == []
    archive = write(tmp_path / ARCHIVE, release)
    offline = install(runner, "--archive", str(archive))
    assert offline.exit_code == 2 and "not enough free disk space" in offline.stderr
    assert_nothing_half_done(env)


def test_download_of_a_file_already_complete_on_disk_is_not_repeated(env, server, release, tmp_path):
    """A .part that already holds the whole file: the server's 416 says so, nothing is sent again."""
    dest = tmp_path / "cache" / "downloads" / ARCHIVE
    assert download(server.url(ARCHIVE), dest, retry_delays=()).size == len(release)
    dest.rename(dest.with_name(ARCHIVE + ".part"))
    meta = {"url": server.url(ARCHIVE), "total": len(release), "validator": '"v1"'}
    dest.with_name(ARCHIVE + ".part.json").write_text(json.dumps(meta))
    sent = server.bytes_sent
    assert download(server.url(ARCHIVE), dest, retry_delays=()).resumed_from == len(release)
    assert server.bytes_sent == sent and server.requests[-1].status == 416 and dest.read_bytes() == release


# ------------------------------------------------------------------------------------------- archives


def test_truncated_and_corrupt_archives(env, server, runner, release, tmp_path):
    server.files[ARCHIVE] = release[: len(release) // 2]
    truncated = install(runner, "--url", server.base)
    assert truncated.exit_code == 2 and "ends early (truncated)" in truncated.stderr
    assert_nothing_half_done(env)
    assert downloads(tmp_path) == []

    corrupt = write(tmp_path / ARCHIVE, os.urandom(5000))
    result = install(runner, "--archive", str(corrupt))
    assert result.exit_code == 2 and "is not a readable .tar.gz archive" in result.stderr
    assert_nothing_half_done(env)

    not_isabelle = write(tmp_path / "x" / ARCHIVE, release_archive(launcher=False))
    result = install(runner, "--archive", str(not_isabelle))
    assert result.exit_code == 2 and "holds no bin/isabelle" in result.stderr
    assert_nothing_half_done(env)


@pytest.mark.parametrize(
    ("bad", "says"),
    [
        (member("Isabelle2025/../../escaped.txt", size=1), "escapes the target folder"),
        (member("/tmp/subgoalxl-absolute.txt", size=1), "has an absolute path"),
        (member("Isabelle2025/dev/null", type=tarfile.CHRTYPE, devmajor=1, devminor=3), "device file"),
        (member("Isabelle2025/passwd", type=tarfile.SYMTYPE, linkname="/etc/passwd"), "absolute path"),
        (member("Isabelle2025/up", type=tarfile.SYMTYPE, linkname="../../.."), "links outside"),
        (member("Isabelle2025/hard", type=tarfile.LNKTYPE, linkname="../outside"), "links outside"),
    ],
    ids=["dotdot", "absolute", "device", "abs-symlink", "escaping-symlink", "escaping-hardlink"],
)
def test_unsafe_archives_are_rejected(env, runner, tmp_path, bad, says):
    archive = write(tmp_path / "in" / ARCHIVE, release_archive(extra=[bad]))
    result = install(runner, "--archive", str(archive))
    assert result.exit_code == 2 and "is unsafe" in result.stderr and says in result.stderr
    assert not (tmp_path / "escaped.txt").exists() and not Path("/tmp/subgoalxl-absolute.txt").exists()
    assert_nothing_half_done(env)


def test_an_interrupted_unpack_leaves_no_tree_and_a_killed_ones_leftovers_are_cleaned(
    env, runner, monkeypatch, tmp_path, release
):
    archive = write(tmp_path / ARCHIVE, release)
    real_extract = isabelle_install.extract_archive

    def interrupted(archive, dest, **kw):
        def on_member(m):
            if m.name.endswith("ROOTS"):
                raise KeyboardInterrupt

        return real_extract(archive, dest, on_member=on_member)

    monkeypatch.setattr(isabelle_install, "extract_archive", interrupted)
    result = install(runner, "--archive", str(archive))
    assert result.exit_code == 130 and "interrupted" in result.stderr
    assert_nothing_half_done(env)
    monkeypatch.setattr(isabelle_install, "extract_archive", real_extract)

    leftover = env / f".{DEFAULT_VERSION}.partial-k1ll3d"  # what `kill -9` during unpacking leaves
    write(leftover / DEFAULT_VERSION / "bin" / "isabelle", b"#!/bin/sh\n").chmod(0o755)
    with pytest.raises(IsabelleNotFoundError):  # never mistaken for an installation
        find_isabelle()
    result = install(runner, "--archive", str(archive), "--no-build")
    assert result.exit_code == 0, result.output
    assert not leftover.exists() and "removing leftovers of an interrupted run" in result.stderr


def test_a_second_install_at_the_same_time_is_refused(env, server, runner):
    with install_lock():
        result = install(runner, "--url", server.base)
    assert result.exit_code == 2 and "another `subgoalxl isabelle` install or remove is running" in result.stderr


# ------------------------------------------------------------------------------------------- heap builds


def test_a_failed_build_keeps_the_tree_recorded_without_heaps_and_a_rerun_builds_only(env, server, runner, monkeypatch):
    monkeypatch.setenv("FAKE_BUILD_FAIL", "HOL-Library")
    result = install(runner, "--url", server.base)
    assert result.exit_code == 2
    home = env / DEFAULT_VERSION
    assert "heap build failed" in result.stderr and "Out of memory (simulated)" in result.stderr
    assert str(home / "subgoalxl-build.log") in result.stderr
    assert f"subgoalxl isabelle install --version {DEFAULT_VERSION}" in result.stderr
    record = read_records()[DEFAULT_VERSION]
    assert not record.complete and "HOL" in record.heaps and "HOL-Library" not in record.heaps

    from cli.main import app

    checks = {c["component"]: c for c in json.loads(runner.invoke(app, ["doctor", "--json"]).stdout)}
    heaps = checks["Isabelle heaps"]
    assert heaps["status"] == "warn" and "not built: HOL-Library" in heaps["detail"]
    assert heaps["fix"].startswith(f"subgoalxl isabelle install --version {DEFAULT_VERSION}")

    monkeypatch.delenv("FAKE_BUILD_FAIL")
    again = install(runner, "--url", server.base)
    assert again.exit_code == 0, again.output
    assert read_records()[DEFAULT_VERSION].complete and len(server.requests) == 1


def test_a_hung_build_is_killed_with_its_whole_process_tree(env, server, runner, monkeypatch, tmp_path):
    pids = tmp_path / "pids"
    monkeypatch.setenv("FAKE_BUILD_SLEEP", "60")
    monkeypatch.setenv("FAKE_BUILD_PIDS", str(pids))
    result = install(runner, "--url", server.base, "--build-timeout", "2")
    assert result.exit_code == 2 and "ran past 2s and was stopped" in result.stderr
    assert "--build-timeout" in result.stderr
    build, helper = (int(p) for p in pids.read_text().split())
    assert remaining([build, helper]) == []
    assert not read_records()[DEFAULT_VERSION].complete


def test_with_the_afp_the_session_also_holds_vieta_and_remove_forgets_it(env, server, runner):
    result = install(runner, "--url", server.base, "--with-afp", "--afp-url", server.url(AFP))
    assert result.exit_code == 0, result.output
    home = env / DEFAULT_VERSION
    (session,) = read_sessions()
    assert session.name == MINIF2F_AFP_SESSION and session.theories == (
        "HOL-Analysis.Analysis",
        "Symmetric_Polynomials.Vieta",
    )
    root = (env / "sessions" / MINIF2F_AFP_SESSION / "ROOT").read_text()
    assert '  sessions\n    "HOL-Analysis"\n    "Symmetric_Polynomials"\n' in root  # defined via HOME/ROOTS
    assert (home / "heaps" / ML_IDENTIFIER / MINIF2F_AFP_SESSION).is_file()

    from cli.main import app

    checks = {c["component"]: c for c in json.loads(runner.invoke(app, ["doctor", "--json"]).stdout)}
    assert checks["miniF2F session"]["detail"] == f"{MINIF2F_AFP_SESSION} holds every miniF2F import"

    removed = runner.invoke(cli, ["isabelle", "remove", DEFAULT_VERSION])
    assert removed.exit_code == 0 and f"forgot session {MINIF2F_AFP_SESSION}" in removed.stderr
    assert read_sessions() == []


def test_no_session_skips_it_and_a_failed_session_build_leaves_the_heaps_usable(env, server, runner, monkeypatch):
    skipped = install(runner, "--url", server.base, "--no-session")
    assert skipped.exit_code == 0, skipped.output
    assert read_sessions() == [] and read_records()[DEFAULT_VERSION].complete
    monkeypatch.setenv("FAKE_BUILD_FAIL", MINIF2F_SESSION)
    failed = install(runner, "--url", server.base)
    assert failed.exit_code == 2
    assert f"building session {MINIF2F_SESSION} failed" in failed.stderr and "Out of memory" in failed.stderr
    assert "The installation and its heaps are fine" in failed.stderr and "--no-session" in failed.stderr
    assert read_sessions() == [] and read_records()[DEFAULT_VERSION].complete
    monkeypatch.delenv("FAKE_BUILD_FAIL")
    assert install(runner, "--url", server.base).exit_code == 0
    assert [s.name for s in read_sessions()] == [MINIF2F_SESSION] and len(server.requests) == 1


# ------------------------------------------------------------------------------------------- the real thing

needs_network = pytest.mark.skipif(
    os.environ.get("SUBGOALXL_TEST_NETWORK") != "1",
    reason="downloads a real Isabelle release (about 1 GB): set SUBGOALXL_TEST_NETWORK=1 to run",
)


@pytest.mark.network
@needs_network
def test_real_release_and_afp_urls_answer_range_requests():
    import httpx

    from isabelle_env.install.releases import afp_url, platform_suffix, release_urls

    for url in [release_urls(DEFAULT_VERSION, platform_suffix())[0], afp_url(DEFAULT_VERSION)]:
        with httpx.stream("GET", url, headers={"Range": "bytes=0-1023"}, follow_redirects=True, timeout=60) as r:
            assert r.status_code == 206, url
            assert int(r.headers["content-range"].rsplit("/", 1)[1]) > 10_000_000, url


@pytest.mark.network
@needs_network
@pytest.mark.timeout(3 * 3600)
def test_real_download_verifies_unpacks_and_is_found(tmp_path, monkeypatch):
    monkeypatch.setenv("SUBGOALXL_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("SUBGOALXL_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("ISABELLE_HOME", raising=False)
    result = CliRunner().invoke(cli, ["isabelle", "install", "--no-build"])
    assert result.exit_code == 0, result.output
    found = find_isabelle()
    assert found.found_via == "recorded" and found.version == DEFAULT_VERSION
