"""Shared fixtures: where the reference data lives, and guards that keep tests hermetic."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


def shared_dir() -> Path:
    """The project's reference data (`../shared` beside the checkout, or $SUBGOALXL_SHARED)."""
    return Path(os.environ.get("SUBGOALXL_SHARED", REPO_ROOT.parent / "shared")).resolve()


@pytest.fixture(scope="session")
def shared() -> Path:
    path = shared_dir()
    if not (path / "datasets").is_dir():
        pytest.fail(f"reference data not found at {path}: set SUBGOALXL_SHARED to the shared/ folder")
    return path


@pytest.fixture(scope="session")
def transcripts(shared: Path) -> Path:
    return shared / "isabelle-transcripts"


@pytest.fixture
def standin(transcripts):
    """Factory for stand-in servers: `standin(**behaviour)` returns a started one; all are stopped after."""
    from tests.isabelle_standin import Behaviour, IsabelleStandin

    started: list[IsabelleStandin] = []

    def make(**behaviour) -> IsabelleStandin:
        server = IsabelleStandin(transcripts, Behaviour(**behaviour)).start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


def address_of(server) -> "ServerAddress":  # noqa: F821 - imported lazily to keep collection light
    from isabelle_env.address import ServerAddress

    return ServerAddress("127.0.0.1", server.port, server.behaviour.password)
