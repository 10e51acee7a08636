"""Checking whole theory files in a session pool, with results keyed back to the files asked for."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from isabelle_env.protocol import IsabelleMessage, NodeResult, NodeStatus
from isabelle_env.session_pool import SessionPool
from isabelle_env.text_files import TextFileError, read_text_file


@dataclass(frozen=True)
class TheoryCheck:
    """What Isabelle said about one theory file: `ok` only if fully processed without any error."""

    path: Path
    theory_name: str
    ok: bool
    errors: tuple[IsabelleMessage, ...]
    warnings: tuple[IsabelleMessage, ...]
    status: NodeStatus | None
    elapsed_s: float
    problem: str | None = None  # set when Isabelle returned nothing usable for this file

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["path"] = str(self.path)
        return data


def theory_file_problem(path: Path) -> str | None:
    """Catch what would make a file unusable before Isabelle sees it."""
    if path.suffix != ".thy":
        return f"{path} is not a theory file: Isabelle theory files end in .thy"
    if not path.is_file():
        return f"{path} does not exist"
    try:
        read_text_file(path, "theory file")  # Isabelle reads theories as UTF-8
    except TextFileError as exc:
        return str(exc)
    return None


def check_theory_files(pool: SessionPool, paths: Sequence[Path], *, timeout: float | None = None) -> list[TheoryCheck]:
    """Check all files in one `use_theories` round trip on one pooled session."""
    resolved = [Path(p).resolve() for p in paths]
    for path in resolved:
        problem = theory_file_problem(path)
        if problem:
            raise ValueError(problem)
    started = time.monotonic()
    names = [str(p.with_suffix("")) for p in resolved]
    master_dir = Path(*_common_parts(resolved)) if resolved else Path.cwd()
    result = pool.use_theories(names, master_dir=master_dir, timeout=timeout)
    elapsed = time.monotonic() - started
    checks = []
    for path in resolved:
        node = _node_for(path, result.nodes)
        if node is None:
            stray = [m for m in result.errors if m.pos.file in (None, "", str(path), path.name)]
            checks.append(
                TheoryCheck(
                    path,
                    path.stem,
                    False,
                    tuple(stray),
                    (),
                    None,
                    elapsed,
                    problem="Isabelle returned no result for this theory (see errors)",
                )
            )
            continue
        checks.append(
            TheoryCheck(
                path=path,
                theory_name=node.theory_name,
                ok=node.checked_ok,
                errors=tuple(node.errors),
                warnings=tuple(m for m in node.messages if m.kind == "warning"),
                status=node.status,
                elapsed_s=elapsed,
            )
        )
    return checks


def _common_parts(paths: Sequence[Path]) -> tuple[str, ...]:
    parts = paths[0].parent.parts
    for path in paths[1:]:
        other = path.parent.parts
        n = 0
        while n < min(len(parts), len(other)) and parts[n] == other[n]:
            n += 1
        parts = parts[:n]
    return parts


def _node_for(path: Path, nodes: Sequence[NodeResult]) -> NodeResult | None:
    for node in nodes:
        if node.node_name and Path(node.node_name).expanduser() == path:
            return node
    candidates = [n for n in nodes if n.theory_name.rpartition(".")[2] == path.stem]
    return candidates[0] if len(candidates) == 1 else None
