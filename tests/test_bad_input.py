"""Bad input gets one line naming the file, what is wrong and what to do, and the documented exit code: never a
traceback. (2 is usage or infrastructure trouble; for `audit`, 1 keeps meaning "findings".)"""

from __future__ import annotations

import http.server
import threading

import pytest
from typer.testing import CliRunner

from agent.config import ConfigError, load_config
from cli.main import app
from expert_iteration.config import IterateConfigError, load_iterate_config
from isabelle_env.address import ServerAddress
from isabelle_env.client import IsabelleClient
from isabelle_env.errors import IsabelleConnectionError
from tests.test_search import PROBLEMS

LATIN1 = 'theory toy2 imports Main begin\n(* caf\xe9 *)\ntheorem toy2: "x = x"\n  sorry\n\nend\n'.encode("latin-1")


def one_line(result, code, *needles):
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def files(tmp_path):
    problem = tmp_path / "toy2.thy"
    problem.write_text(PROBLEMS[2].theory_text)
    latin = tmp_path / "latin.thy"
    latin.write_bytes(LATIN1)
    candidate = tmp_path / "proof.txt"
    candidate.write_text("using assms by simp\n")
    return problem, latin, candidate


def test_audit_and_verify_refuse_files_that_are_not_utf8(files):
    problem, latin, candidate = files
    runner = CliRunner()
    where = "byte 0xe9 at line 2, column 7 is not UTF-8"
    one_line(runner.invoke(app, ["audit", str(latin), str(candidate)]), 2, f"problem file {latin}", where, "UTF-8")
    one_line(runner.invoke(app, ["audit", str(problem), str(latin)]), 2, f"candidate file {latin}", where)
    stdin = runner.invoke(app, ["audit", str(problem), "-"], input=b"by simp \xff\n")
    one_line(stdin, 2, "the candidate on standard input is not UTF-8 text", "line 1, column 9")
    verify = runner.invoke(app, ["verify", str(latin), str(candidate), "--isabelle-server", "127.0.0.1:9"])
    one_line(verify, 2, f"problem file {latin} is not UTF-8", "save it as UTF-8")
    verify = runner.invoke(app, ["verify", str(problem), str(latin), "--isabelle-server", "127.0.0.1:9"])
    one_line(verify, 2, f"candidate file {latin} is not UTF-8")
    assert runner.invoke(app, ["audit", str(problem), str(candidate)]).exit_code == 0  # the good pair is clean


def test_check_refuses_a_theory_that_is_not_utf8_before_sending_it(files, standin):
    from tests.conftest import address_of

    _, latin, _ = files
    server = standin()
    address = address_of(server)
    args = ["check", str(latin), "--isabelle-server", str(address), "--password", address.password]
    one_line(CliRunner().invoke(app, args), 2, f"theory file {latin} is not UTF-8", "line 2, column 7")
    assert server.connections == 0  # refused before Isabelle saw anything


def test_configs_with_a_section_of_the_wrong_shape_or_not_utf8(tmp_path, files):
    problem, _, _ = files
    data = tmp_path / "problems"
    data.mkdir()
    (data / problem.name).write_text(problem.read_text())
    runner = CliRunner()
    shapes = {"search = 5\n": "search must be a table", 'isabelle = "HOL"\n': "isabelle must be a table"}
    for text, needle in shapes.items():
        config = tmp_path / "run.toml"
        config.write_text(text)
        result = runner.invoke(app, ["eval", "--data", str(data), "--config", str(config), "--attempts", "2"])
        one_line(result, 2, f"{config}: {needle}", "[", "key = value")
        with pytest.raises(ConfigError, match=needle):
            load_config(config)  # with no overrides to apply as well
    latin = tmp_path / "latin.toml"
    latin.write_bytes("[search]\n# caf\xe9\nattempts_per_problem = 2\n".encode("latin-1"))
    result = runner.invoke(app, ["eval", "--data", str(data), "--config", str(latin)])
    one_line(result, 2, f"config file {latin} is not UTF-8 text", "line 2, column 6")
    loop = tmp_path / "iterate.toml"
    loop.write_text("loop = 5\n")
    with pytest.raises(IterateConfigError, match="loop must be a table"):
        load_iterate_config(loop, {"loop": {"rounds": 2}})
    result = runner.invoke(app, ["iterate", "--config", str(loop)])
    one_line(result, 2, f"{loop}: loop must be a table")
    loop.write_bytes(b"[loop]\nrounds = 1 # \xff\n")
    one_line(runner.invoke(app, ["iterate", "--config", str(loop)]), 2, "is not UTF-8 text")


class _Http(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - the stdlib's name
        self.send_error(404)

    def log_message(self, *args):
        pass


@pytest.fixture
def http_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Http)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


def test_a_server_that_is_not_isabelle_is_named_as_such(http_server, tmp_path):
    port = http_server.server_address[1]
    with pytest.raises(IsabelleConnectionError) as error:
        IsabelleClient(ServerAddress("127.0.0.1", port, "pw"), connect_timeout=5)
    message = str(error.value)
    assert message.startswith(f"127.0.0.1:{port} is not an Isabelle server: it answered the password with ")
    assert "<" in message and "--isabelle-server" in message and "more than one reply" not in message
    thy = tmp_path / "A.thy"
    thy.write_text("theory A imports Main begin end")
    result = CliRunner().invoke(app, ["check", str(thy), "--isabelle-server", f"127.0.0.1:{port}", "--password", "x"])
    one_line(result, 2, "is not an Isabelle server", "answered the password with")


def test_a_server_that_greets_first_is_not_isabelle_either():
    import socket

    listener = socket.create_server(("127.0.0.1", 0))

    def greet():
        conn, _ = listener.accept()
        conn.sendall(b"SSH-2.0-OpenSSH_9.6\r\n")
        conn.recv(100)
        conn.close()

    thread = threading.Thread(target=greet, daemon=True)
    thread.start()
    try:
        port = listener.getsockname()[1]
        with pytest.raises(IsabelleConnectionError, match="answered the password with 'SSH-2.0-OpenSSH_9.6'"):
            IsabelleClient(ServerAddress("127.0.0.1", port, "pw"), connect_timeout=5)
    finally:
        thread.join(5)
        listener.close()
