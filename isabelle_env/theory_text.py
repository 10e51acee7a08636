"""Isabelle theory text without Isabelle: the public face of `isabelle_env.syntax`.

Everything here is pure text processing: problems are stripped of their shipped proofs, candidate proofs are
audited and sketched, and the theory sent to the kernel is built so that the kernel checks the problem's own
statement. The concepts live in their own modules (tokens, spans, statements, problems, candidates, the check
theory); this module gathers them for library users.
"""

from isabelle_env.syntax.candidates import (
    AtpSpan,
    AuxLemma,
    Candidate,
    InformalComment,
    SledgehammerSite,
    atp_to_sledgehammer,
    find_atp_spans,
    find_sledgehammer,
    parse_candidate,
    replace_sledgehammer,
)
from isabelle_env.syntax.check_theory import CheckTheory, build_check_theory
from isabelle_env.syntax.layout import Layout, Unit, theory_header
from isabelle_env.syntax.normalise import normalise_proof
from isabelle_env.syntax.problems import ProblemTheory, parse_problem, problem_from_statement
from isabelle_env.syntax.proof_tree import Step
from isabelle_env.syntax.spans import Command, split_commands
from isabelle_env.syntax.statements import Fix, Prop, Statement, parse_statement
from isabelle_env.syntax.tokens import TheoryParseError, Token, TokenKind, tokenize

__all__ = [
    "AtpSpan",
    "AuxLemma",
    "Candidate",
    "CheckTheory",
    "Command",
    "Fix",
    "InformalComment",
    "Layout",
    "ProblemTheory",
    "Prop",
    "SledgehammerSite",
    "Statement",
    "Step",
    "TheoryParseError",
    "Token",
    "TokenKind",
    "Unit",
    "atp_to_sledgehammer",
    "build_check_theory",
    "find_atp_spans",
    "find_sledgehammer",
    "normalise_proof",
    "parse_candidate",
    "parse_problem",
    "parse_statement",
    "problem_from_statement",
    "replace_sledgehammer",
    "split_commands",
    "theory_header",
    "tokenize",
]
