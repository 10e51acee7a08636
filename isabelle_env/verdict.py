"""The outcome of verifying one candidate proof: a closed set of kinds, never a substring search."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from isabelle_env.audit import Finding
from isabelle_env.protocol import IsabelleMessage, Position
from isabelle_env.salvage import Replacement


class VerdictKind(StrEnum):
    PROVED = "proved"
    FAILED = "failed"
    TIMEOUT = "timeout"
    REJECTED = "rejected"  # by the soundness audit, before Isabelle saw it
    INFRASTRUCTURE_ERROR = "infrastructure-error"


@dataclass(frozen=True)
class StepResult:
    """How one `sledgehammer` step fared: the method that closed it, or every method that did not."""

    index: int
    line: int
    proposition: str | None
    closed_by: str | None  # e.g. "by auto", "by (metis add.commute)"
    source: str | None  # "heuristic", "sledgehammer", "cache"
    elapsed_s: float
    tried: tuple[str, ...] = ()

    @property
    def closed(self) -> bool:
        return self.closed_by is not None


@dataclass(frozen=True)
class Verdict:
    kind: VerdictKind
    problem_name: str
    reason: str
    final_proof: str | None = None  # candidate proof with each sledgehammer replaced by what closed it
    steps: tuple[StepResult, ...] = ()
    messages: tuple[IsabelleMessage, ...] = ()  # errors (positions in candidate lines where known)
    findings: tuple[Finding, ...] = ()
    isabelle_version: str | None = None
    session: str | None = None
    imports: tuple[str, ...] = ()  # what the checked theory imported
    header: str = "problem"  # "problem" (its own imports) or "benchmark" (the benchmark's fixed header)
    timings: dict[str, float] = field(default_factory=dict)
    round_trips: int = 0
    cached: bool = False
    oracles: tuple[str, ...] = ()  # what Isabelle's thm_oracles reported for the proved theorem ([] = kernel only)
    salvage: str = "as_written"  # how the proof was obtained: as_written | gaps_filled | coarsened:K
    replaced: tuple[Replacement, ...] = ()  # steps of the candidate that salvage replaced, and by what

    @property
    def proved(self) -> bool:
        return self.kind is VerdictKind.PROVED

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": str(self.kind),
            "problem_name": self.problem_name,
            "reason": self.reason,
            "final_proof": self.final_proof,
            "steps": [
                {
                    "index": s.index,
                    "line": s.line,
                    "proposition": s.proposition,
                    "closed_by": s.closed_by,
                    "source": s.source,
                    "elapsed_s": round(s.elapsed_s, 4),
                    "tried": list(s.tried),
                }
                for s in self.steps
            ],
            "messages": [
                {"kind": m.kind, "text": m.text, "line": m.pos.line, "offset": m.pos.offset} for m in self.messages
            ],
            "findings": [{"rule": f.rule, "line": f.line, "message": f.message} for f in self.findings],
            "isabelle_version": self.isabelle_version,
            "session": self.session,
            "imports": list(self.imports),
            "header": self.header,
            "timings": {k: round(v, 4) for k, v in self.timings.items()},
            "round_trips": self.round_trips,
            "cached": self.cached,
            "oracles": list(self.oracles),
            "salvage": self.salvage,
            "replaced": [r.to_json() for r in self.replaced],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Verdict:
        return cls(
            kind=VerdictKind(data["kind"]),
            problem_name=data["problem_name"],
            reason=data["reason"],
            final_proof=data.get("final_proof"),
            steps=tuple(
                StepResult(
                    index=s["index"],
                    line=s["line"],
                    proposition=s.get("proposition"),
                    closed_by=s.get("closed_by"),
                    source=s.get("source"),
                    elapsed_s=s.get("elapsed_s", 0.0),
                    tried=tuple(s.get("tried", ())),
                )
                for s in data.get("steps", [])
            ),
            messages=tuple(
                IsabelleMessage(m["kind"], m["text"], Position(m.get("line"), m.get("offset")))
                for m in data.get("messages", [])
            ),
            findings=tuple(Finding(f["rule"], f["line"], f["message"]) for f in data.get("findings", [])),
            isabelle_version=data.get("isabelle_version"),
            session=data.get("session"),
            imports=tuple(data.get("imports", ())),
            header=data.get("header", "problem"),
            timings=dict(data.get("timings", {})),
            round_trips=data.get("round_trips", 0),
            cached=data.get("cached", False),
            oracles=tuple(data.get("oracles", ())),
            salvage=data.get("salvage", "as_written"),
            replaced=tuple(Replacement(r["line"], r["original"], r["replacement"]) for r in data.get("replaced", [])),
        )
