"""Reading proof suggestions from Isabelle's structured messages: Sledgehammer's and try0's `Try this:` lines and
try0's `Found proof:` lines (HOL/Tools/try0.ML prints one per method that closed the goal)."""

from __future__ import annotations

import re
from collections.abc import Iterable

from isabelle_env.protocol import IsabelleMessage

# "cvc5: Try this: by (metis foo) (12 ms)", "Try this: using assms by linarith (0.4 ms)"
_TRY_THIS = re.compile(
    r"(?:Try this|Found proof):\s*(?P<call>.+?)\s*(?:\((?P<timing>[^()]*(?:\bm?s\b|failed|timed out)[^()]*)\))?\s*$",
    re.S,
)
_BAD_TIMING = re.compile(r"failed|timed out|>\s*[0-9.]+ ?s", re.I)
_METHOD_START = ("by ", "using ", "unfolding ", "apply ", "by(")


def parse_suggestions(messages: Iterable[IsabelleMessage]) -> list[str]:
    """Proof calls Sledgehammer proposed, in order of appearance, without duplicates.

    A call whose preplay failed or timed out is dropped: Isabelle already tried it.
    """
    found: list[str] = []
    for message in messages:
        for line in message.text.splitlines():
            match = _TRY_THIS.search(line)
            if not match:
                continue
            call = " ".join(match["call"].split())
            if match["timing"] and _BAD_TIMING.search(match["timing"]):
                continue
            if call.startswith(_METHOD_START) and call not in found:
                found.append(call)
    return found
