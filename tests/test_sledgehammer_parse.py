"""Suggestions are read from the real recorded Sledgehammer reply and from realistic variants."""

from __future__ import annotations

import json

from isabelle_env.protocol import IsabelleMessage, UseTheoriesResult
from isabelle_env.sledgehammer import parse_suggestions
from tests.isabelle_standin import body_of, split_transcript


def test_suggestions_from_the_recorded_reply(transcripts):
    raw = split_transcript((transcripts / "use_theories.Sledgehammer").read_bytes())[-1]
    result = UseTheoriesResult.from_json(json.loads(body_of(raw).partition(b" ")[2]))
    assert parse_suggestions(result.nodes[0].messages) == [
        "by presburger",
        "by simp",
        "by auto",
        "by blast",
        "by fast",
        "by metis",
    ]


def test_suggestions_variants():
    messages = [
        IsabelleMessage("writeln", "cvc5: Try this: by (metis add.commute mult.commute) (12 ms)"),
        IsabelleMessage("writeln", "e: Try this: using assms by linarith (0.4 ms)"),
        IsabelleMessage("writeln", "vampire: Try this: by (smt (verit) foo) (> 1.0 s, timed out)"),
        IsabelleMessage("writeln", "zipperposition: Try this: by (meson bar) (failed)"),
        IsabelleMessage("writeln", "Try this: by (metis add.commute mult.commute) (3 ms)"),
        IsabelleMessage("writeln", "Sledgehammering..."),
        IsabelleMessage("writeln", "verit: Try this: by auto"),
    ]
    assert parse_suggestions(messages) == [
        "by (metis add.commute mult.commute)",
        "using assms by linarith",
        "by auto",
    ]
