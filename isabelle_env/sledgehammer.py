"""Reading Sledgehammer's `Try this:` suggestions from Isabelle's structured messages."""

from __future__ import annotations

import re
from collections.abc import Iterable

from isabelle_env.protocol import IsabelleMessage

# "cvc5: Try this: by (metis foo) (12 ms)", "Try this: using assms by linarith (0.4 ms)"
_TRY_THIS = re.compile(
    r"Try this:\s*(?P<call>.+?)\s*(?:\((?P<timing>[^()]*(?:\bm?s\b|failed|timed out)[^()]*)\))?\s*$", re.S
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
