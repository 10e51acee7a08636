"""The protocol client driven through the stand-in server that replays real recorded replies."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from isabelle_env.address import ServerAddress
from isabelle_env.client import IsabelleClient
from isabelle_env.errors import (
    IsabelleCommandError,
    IsabelleConnectionError,
    IsabelleTaskFailedError,
    IsabelleTimeoutError,
)
from tests.conftest import address_of


def test_handshake_and_help(standin):
    server = standin()
    with IsabelleClient(address_of(server)) as client:
        assert client.server_info["isabelle_name"] == "Isabelle2025"
        assert client.help() == [
            "cancel",
            "echo",
            "help",
            "purge_theories",
            "session_build",
            "session_start",
            "session_stop",
            "shutdown",
            "use_theories",
        ]
        assert client.echo({"x": [1, "ü"]}) == {"x": [1, "ü"]}


@pytest.mark.parametrize("chunking", ["whole", "bytewise", "random", "coalesce"])
def test_session_lifecycle_typed_results_however_replies_are_cut(standin, chunking):
    server = standin(chunking=chunking)
    notes: list[dict] = []
    with IsabelleClient(address_of(server)) as client:
        info = client.session_start("HOL", on_note=notes.append, timeout=10)
        assert info.session_id in server.sessions
        assert info.tmp_dir == "/tmp/isabelle-/server_session10102610028077391104"
        if chunking != "coalesce":
            assert [n["message"] for n in notes if n.get("kind") == "writeln"][-1] == "Starting session Main ..."
        result = client.use_theories(info.session_id, ["Example"], master_dir="/tmp", timeout=10)
        assert result.ok
        (node,) = result.nodes
        assert node.theory_name == "Draft.Example" and node.checked_ok
        assert node.status.finished == 7 and node.status.total == 7
        (message,) = node.messages
        assert message.kind == "writeln" and message.text == "theorem \\<forall>x. \\<exists>y. x = y"
        assert (message.pos.line, message.pos.offset, message.pos.end_offset) == (5, 59, 61)
        purged = client.purge_theories(info.session_id, purge_all=True)
        assert [t.theory_name for t in purged.purged] == ["Draft.Mock"]
        assert client.session_stop(info.session_id, timeout=10) == {"ok": True, "return_code": 0}
        build = client.session_build("examples", timeout=10)
        assert build.ok and [s["session"] for s in build.sessions] == ["Pure", "HOL", "examples"]
    assert ("use_theories", {"session_id": info.session_id, "theories": ["Example"], "master_dir": "/tmp"}) in (
        server.received
    )


def test_failed_theory_is_a_result_with_positions(standin):
    server = standin(choose_transcript=lambda theory: "use_theories.Fail")
    with IsabelleClient(address_of(server)) as client:
        result = client.use_theories("s", ["Example"], timeout=10)
    assert not result.ok
    (node,) = result.nodes
    assert not node.checked_ok and node.status.failed == 1
    (error,) = node.errors
    assert error.text.startswith("Failed to finish proof\\<^here>:\ngoal (1 subgoal):")
    assert error.pos.line == 5
    assert result.errors == (error,)


def test_sledgehammer_output_is_kept_message_by_message(standin):
    server = standin(choose_transcript=lambda theory: "use_theories.Sledgehammer")
    with IsabelleClient(address_of(server)) as client:
        result = client.use_theories("s", ["Problem"], timeout=10)
    texts = [m.text for m in result.nodes[0].messages]
    assert "presburger: Try this: by presburger (0.4 ms)" in texts
    assert texts[0] == "Sledgehammering..." and texts[-1] == "Done"


def test_notes_iterator_and_callback_see_the_same_stream(standin):
    server = standin(note_delay=0.01)
    seen: list[dict] = []
    with IsabelleClient(address_of(server)) as client:
        task = client.start_task("use_theories", {"session_id": "s", "theories": ["Example"]}, on_note=seen.append)
        streamed = list(task.notes(timeout=5))
        assert [n["percentage"] for n in streamed] == [42, 99, 100]
        assert streamed == seen
        assert task.result(5)["ok"] is True


def test_interleaved_tasks_on_one_connection_from_many_threads(standin):
    def choose(theory: str) -> str:
        return "use_theories.Fail" if theory.startswith("Bad") else "use_theories"

    server = standin(note_delay=0.005, chunking="random", choose_transcript=choose)
    results: dict[str, bool] = {}
    errors: list[BaseException] = []
    with IsabelleClient(address_of(server)) as client:

        def work(name: str) -> None:
            try:
                results[name] = client.use_theories("s", [name], timeout=20).ok
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(f"{'Bad' if i % 3 == 0 else 'Good'}{i}",)) for i in range(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert not errors
    assert results == {f"{'Bad' if i % 3 == 0 else 'Good'}{i}": i % 3 != 0 for i in range(12)}


def test_unknown_command_raises_with_what_the_server_said(standin):
    server = standin()
    with IsabelleClient(address_of(server)) as client:
        with pytest.raises(IsabelleCommandError, match="Bad command 'unknown'"):
            client.command("unknown")
        assert client.echo("still usable") == "still usable"


def test_wrong_password_is_refused_with_a_clear_message(standin):
    server = standin()
    with pytest.raises(IsabelleConnectionError, match="password is wrong"):
        IsabelleClient(ServerAddress("127.0.0.1", server.port, "not-the-password"))


def test_password_never_shows_in_repr_or_str(standin):
    server = standin()
    address = address_of(server)
    assert server.behaviour.password not in repr(address) + str(address)


def test_nothing_listening(standin):
    server = standin()
    port = server.port
    server.stop()
    with pytest.raises(IsabelleConnectionError, match="cannot connect"):
        IsabelleClient(ServerAddress("127.0.0.1", port, "pw"), connect_timeout=2)


def test_server_closing_mid_message_fails_waiters_instead_of_hanging(standin):
    server = standin(close_mid_message_on=frozenset({"use_theories"}))
    with IsabelleClient(address_of(server)) as client:
        started = time.monotonic()
        with pytest.raises(IsabelleConnectionError, match="middle of a message"):
            client.use_theories("s", ["Example"], timeout=30)
        assert time.monotonic() - started < 5
        assert client.closed
        with pytest.raises(IsabelleConnectionError):
            client.echo(1)


def test_server_that_never_answers_times_out(standin):
    server = standin(never_answer=frozenset({"help"}))
    with (
        IsabelleClient(address_of(server), command_timeout=0.3) as client,
        pytest.raises(IsabelleTimeoutError, match="did not answer 'help' within 0.3s"),
    ):
        client.help()


def test_a_check_past_its_deadline_is_cancelled(standin):
    server = standin(hang_use_theories=True)
    with IsabelleClient(address_of(server)) as client:
        with pytest.raises(IsabelleTimeoutError):
            client.use_theories("s", ["Example"], timeout=0.3)
        cancels = [arg for name, arg in server.received if name == "cancel"]
        assert len(cancels) == 1
        task = client.start_task("use_theories", {"session_id": "s", "theories": ["X"]})
        task.cancel()
        with pytest.raises(IsabelleTaskFailedError, match="Interrupt"):
            task.result(5)


def test_usable_inside_a_running_event_loop(standin):
    """The known failure of other clients: asyncio.run inside an already running loop (Jupyter, Ray)."""
    server = standin(note_delay=0.005)

    async def main() -> tuple[bool, bool, list]:
        with IsabelleClient(address_of(server)) as client:
            blocking = client.use_theories("s", ["Example"], timeout=10).ok  # sync API inside a loop
            both = await asyncio.gather(
                client.use_theories_async("s", ["A"], timeout=10),
                client.use_theories_async("s", ["B"], timeout=10),
                client.command_async("echo", [1]),
            )
            return blocking, all(r.ok for r in both[:2]), both[2]

    assert asyncio.run(main()) == (True, True, [1])
