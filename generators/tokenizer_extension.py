"""Add Isabelle's symbols (and optionally Isar keywords) to a tokenizer, and the model's embeddings to match.

General tokenizers cut `\\<forall>`, `\\<le>`, `\\<Longrightarrow>` into three to six pieces each, and Isabelle
text is dense with them, so prompts and proofs cost more tokens (context, time) than they need. This module
measures tokens per character on a corpus, picks the symbols that save the most tokens (occurrences x pieces
saved; with a leading-space variant, since most symbols follow a space), adds them as tokens, and initialises
each new embedding as the mean of the embeddings of the pieces it replaces (input and, if untied, output), so
the extended model starts close to the original. The result is saved as a new model folder with a report
(`tokenizer_extension.json`): the tokens added, tokens/char before and after per corpus part, whether
decode(encode(text)) == text on the whole corpus, and a generation from the reloaded model.
"""

from __future__ import annotations

import json
import re
import tarfile
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

#: `\<le>`, `\<Longrightarrow>`, control symbols `\<^sub>`; Isabelle's symbol syntax
SYMBOL = re.compile(r"\\<\^?[A-Za-z][A-Za-z0-9_']*>")
#: Isar and HOL keywords a proof is full of (only used with `keywords > 0`)
KEYWORDS = (
    "theorem",
    "lemma",
    "fixes",
    "assumes",
    "shows",
    "proof",
    "qed",
    "have",
    "show",
    "hence",
    "thus",
    "obtain",
    "using",
    "unfolding",
    "from",
    "then",
    "with",
    "moreover",
    "ultimately",
    "finally",
    "also",
    "sledgehammer",
    "by",
    "auto",
    "simp",
    "blast",
    "arith",
    "linarith",
    "nlinarith",
    "fastforce",
    "metis",
    "smt",
    "sos",
    "algebra",
    "presburger",
    "real",
    "nat",
    "int",
)
REPORT_FILE = "tokenizer_extension.json"
_THEOREM = re.compile(r"^[ \t]*(theorem|lemma)\b", re.MULTILINE)
_TEXT_FIELDS = ("proof", "formal_statement", "text")


class CorpusError(ValueError):
    """A corpus path that cannot be read; the message names it and what is accepted."""


# ---------------------------------------------------------------------------------------------------------------
# Corpus


def theory_statement(text: str) -> str:
    """The part of a problem theory from its `theorem`/`lemma` to before the closing `end` (header left out)."""
    match = _THEOREM.search(text)
    body = text[match.start() :] if match else text
    stripped = body.rstrip()
    return stripped[: -len("end")].rstrip() if stripped.endswith("end") else stripped


def _jsonl_texts(data: str, where: str) -> list[str]:
    texts = []
    for lineno, line in enumerate(data.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise CorpusError(f"{where}:{lineno}: not JSON ({exc.msg})") from None
        value = next((row[k] for k in _TEXT_FIELDS if isinstance(row, dict) and isinstance(row.get(k), str)), None)
        if value is None:
            raise CorpusError(f"{where}:{lineno}: a row needs one of the text fields {', '.join(_TEXT_FIELDS)}")
        texts.append(value)
    return texts


def read_corpus_path(path: str | Path) -> list[str]:
    """Texts from one path: a folder (every .thy under it), .thy, .jsonl, .txt, or a .tar(.gz) of .jsonl/.thy.

    A theory contributes its statement part (`theory_statement`); a JSONL row its `proof`, else its
    `formal_statement`, else its `text`. Archives are read in memory, never extracted.
    """
    path = Path(path)
    if not path.exists():
        raise CorpusError(f"corpus path {path} does not exist")
    if path.is_dir():
        files = sorted(path.rglob("*.thy"))
        if not files:
            raise CorpusError(f"{path} holds no .thy files")
        return [theory_statement(f.read_text(encoding="utf-8")) for f in files]
    name = path.name
    if name.endswith(".thy"):
        return [theory_statement(path.read_text(encoding="utf-8"))]
    if name.endswith(".jsonl"):
        return _jsonl_texts(path.read_text(encoding="utf-8"), str(path))
    if name.endswith(".txt"):
        return [path.read_text(encoding="utf-8")]
    if name.endswith((".tar", ".tar.gz", ".tgz")):
        texts: list[str] = []
        with tarfile.open(path) as tar:
            for member in sorted(tar.getmembers(), key=lambda m: m.name):
                if not member.isfile() or not member.name.endswith((".jsonl", ".thy")):
                    continue
                handle = tar.extractfile(member)
                data = handle.read().decode("utf-8") if handle else ""
                where = f"{path}!{member.name}"
                texts += _jsonl_texts(data, where) if member.name.endswith(".jsonl") else [theory_statement(data)]
        if not texts:
            raise CorpusError(f"{path} holds no .jsonl or .thy members")
        return texts
    raise CorpusError(f"{path}: give a folder of .thy files, a .thy, .jsonl, .txt, or a .tar(.gz) of .jsonl/.thy")


def read_corpus(paths: Iterable[str | Path]) -> dict[str, list[str]]:
    """Texts per corpus part (keyed by the path as given)."""
    corpus = {str(p): read_corpus_path(p) for p in paths}
    if not corpus:
        raise CorpusError("no corpus given: pass at least one path")
    return corpus


# ---------------------------------------------------------------------------------------------------------------
# Measuring and choosing


@dataclass(frozen=True)
class PartStats:
    texts: int
    chars: int
    tokens_before: int
    tokens_after: int | None = None

    @property
    def per_char_before(self) -> float:
        return self.tokens_before / max(self.chars, 1)

    @property
    def per_char_after(self) -> float | None:
        return None if self.tokens_after is None else self.tokens_after / max(self.chars, 1)

    @property
    def savings(self) -> float | None:
        """Fraction of tokens saved (0.12 = 12 % fewer tokens)."""
        if self.tokens_after is None:
            return None
        return 1 - self.tokens_after / max(self.tokens_before, 1)

    def to_json(self) -> dict[str, object]:
        return {
            **asdict(self),
            "tokens_per_char_before": round(self.per_char_before, 4),
            "tokens_per_char_after": None if self.per_char_after is None else round(self.per_char_after, 4),
            "savings": None if self.savings is None else round(self.savings, 4),
        }


def count_tokens(tokenizer: Any, texts: Sequence[str]) -> int:
    if not texts:
        return 0
    return sum(len(ids) for ids in tokenizer(list(texts), add_special_tokens=False).input_ids)


@dataclass(frozen=True)
class NewToken:
    """A token to add: its text, how often it occurs (as this variant), the pieces it replaces, tokens saved."""

    text: str
    kind: str  # "symbol" | "keyword"
    count: int
    pieces: tuple[int, ...]

    @property
    def saving(self) -> int:
        return self.count * (len(self.pieces) - 1)

    def to_json(self, tokenizer: Any | None = None) -> dict[str, object]:
        data: dict[str, object] = {
            "text": self.text,
            "kind": self.kind,
            "count": self.count,
            "pieces": len(self.pieces),
            "saving": self.saving,
        }
        if tokenizer is not None:
            data["piece_texts"] = tokenizer.convert_ids_to_tokens(list(self.pieces))
        return data


def candidates(
    tokenizer: Any, texts: Iterable[str], *, keywords: bool = False, space_variants: bool = True
) -> list[NewToken]:
    """Every symbol (and keyword) occurrence counted as the variant that would match it, best saving first.

    A symbol right after a space counts toward ` \\<le>` (when `space_variants`), else toward `\\<le>`; the
    tokenizer's added-token matching is leftmost-longest, so with both added each occurrence takes its own.
    Strings the tokenizer already encodes as one token are left out.
    """
    counts: Counter[tuple[str, str]] = Counter()
    vocab = tokenizer.get_vocab()
    keyword_re = re.compile(r"(?<![A-Za-z0-9_'.])(" + "|".join(KEYWORDS) + r")(?![A-Za-z0-9_'])") if keywords else None
    for text in texts:
        for match in SYMBOL.finditer(text):
            spaced = space_variants and match.start() > 0 and text[match.start() - 1] == " "
            counts[(" " if spaced else "") + match.group(), "symbol"] += 1
        if keyword_re is not None:
            for match in keyword_re.finditer(text):
                spaced = space_variants and match.start() > 0 and text[match.start() - 1] == " "
                counts[(" " if spaced else "") + match.group(1), "keyword"] += 1
    found = []
    for (token, kind), count in counts.items():
        if token in vocab:
            continue
        pieces = tuple(tokenizer(token, add_special_tokens=False).input_ids)
        if len(pieces) > 1:
            found.append(NewToken(token, kind, count, pieces))
    return sorted(found, key=lambda t: (-t.saving, t.text))


def choose(found: Sequence[NewToken], top: int, keywords: int = 0) -> list[NewToken]:
    """The `top` symbols and `keywords` keywords with the largest savings."""
    symbols = [t for t in found if t.kind == "symbol"][:top]
    words = [t for t in found if t.kind == "keyword"][:keywords]
    return sorted(symbols + words, key=lambda t: (-t.saving, t.text))


def round_trip_failures(tokenizer: Any, texts: Iterable[str], limit: int = 5) -> tuple[int, list[dict[str, str]]]:
    """(texts checked, up to `limit` texts whose decode(encode(text)) differs), decoding as generation does."""
    checked, failures = 0, []
    texts = list(texts)
    for text, ids in zip(texts, tokenizer(texts, add_special_tokens=False).input_ids, strict=True):
        checked += 1
        back = tokenizer.decode(ids, skip_special_tokens=True)
        if back != text and len(failures) < limit:
            at = next(
                (k for k, (a, b) in enumerate(zip(text, back, strict=False)) if a != b), min(len(text), len(back))
            )
            failures.append({"text": text[max(at - 30, 0) : at + 30], "decoded": back[max(at - 30, 0) : at + 30]})
    return checked, failures


# ---------------------------------------------------------------------------------------------------------------
# Extending


@dataclass
class ExtensionReport:
    """What `extend_tokenizer` did and measured; written as `tokenizer_extension.json` beside the model."""

    base_model: str
    out_dir: str
    vocab_before: int
    vocab_after: int
    added: list[dict[str, object]]
    parts: dict[str, dict[str, object]]
    total: dict[str, object]
    round_trip: dict[str, object]
    generation: dict[str, object] = field(default_factory=dict)
    tied_embeddings: bool = True
    seconds: float = 0.0

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def extend_tokenizer(
    model_dir: str | Path,
    corpus: Mapping[str, Sequence[str]],
    out_dir: str | Path,
    *,
    top: int = 64,
    keywords: int = 0,
    space_variants: bool = True,
    check_generation: bool = True,
) -> ExtensionReport:
    """Add the `top` most token-saving symbols (+ `keywords` keywords), init embeddings, save to `out_dir`."""
    import torch
    from tokenizers import AddedToken
    from transformers import AutoModelForCausalLM, AutoTokenizer

    started = time.monotonic()
    model_dir, out_dir = Path(model_dir), Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()):
        raise FileExistsError(f"{out_dir} is not empty: the extended model is a new version, give a new folder")
    tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    all_texts = [t for texts in corpus.values() for t in texts]
    chosen = choose(
        candidates(tokenizer, all_texts, keywords=keywords > 0, space_variants=space_variants), top, keywords
    )
    before = {
        name: (len(texts), sum(map(len, texts)), count_tokens(tokenizer, texts)) for name, texts in corpus.items()
    }
    vocab_before = len(tokenizer)
    _, failures_before = round_trip_failures(tokenizer, all_texts)

    tokenizer.add_tokens(
        [AddedToken(t.text, single_word=t.kind == "keyword", normalized=False, special=False) for t in chosen]
    )
    new_ids = tokenizer.convert_tokens_to_ids([t.text for t in chosen])
    model = AutoModelForCausalLM.from_pretrained(model_dir, local_files_only=True)
    inputs = model.get_input_embeddings()
    if len(tokenizer) > inputs.weight.shape[0]:  # a vocab padded beyond the tokenizer already has the rows
        model.resize_token_embeddings(len(tokenizer), mean_resizing=False)
    inputs = model.get_input_embeddings()
    outputs = model.get_output_embeddings()
    tied = outputs is None or outputs.weight.data_ptr() == inputs.weight.data_ptr()
    with torch.no_grad():
        for token, new_id in zip(chosen, new_ids, strict=True):
            pieces = torch.tensor(token.pieces)
            inputs.weight[new_id] = inputs.weight[pieces].mean(dim=0)
            if not tied:
                outputs.weight[new_id] = outputs.weight[pieces].mean(dim=0)
                bias = getattr(outputs, "bias", None)
                if bias is not None:
                    bias[new_id] = bias[pieces].mean()
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)

    reloaded = AutoTokenizer.from_pretrained(out_dir, local_files_only=True)
    parts: dict[str, dict[str, object]] = {}
    totals = [0, 0, 0, 0]
    for name, texts in corpus.items():
        n, chars, tokens_before = before[name]
        stats = PartStats(n, chars, tokens_before, count_tokens(reloaded, texts))
        parts[name] = stats.to_json()
        totals = [a + b for a, b in zip(totals, (n, chars, tokens_before, stats.tokens_after or 0), strict=True)]
    checked, failures = round_trip_failures(reloaded, all_texts)
    report = ExtensionReport(
        base_model=str(model_dir),
        out_dir=str(out_dir),
        vocab_before=vocab_before,
        vocab_after=len(reloaded),
        added=[t.to_json(tokenizer) | {"id": i} for t, i in zip(chosen, new_ids, strict=True)],
        parts=parts,
        total=PartStats(*totals).to_json(),
        round_trip={
            "texts": checked,
            "exact": not failures,
            "failures": failures,
            "base_tokenizer_exact": not failures_before,
        },
        tied_embeddings=tied,
    )
    if check_generation:
        report.generation = generation_check(out_dir, all_texts[0] if all_texts else "theorem", set(new_ids))
    report.seconds = round(time.monotonic() - started, 2)
    (out_dir / REPORT_FILE).write_text(json.dumps(report.to_json(), indent=2, ensure_ascii=False) + "\n")
    return report


def generation_check(
    model_dir: str | Path, text: str, new_ids: set[int] | None = None, max_tokens: int = 16
) -> dict[str, object]:
    """Load the folder through the transformers backend and generate: the extended model must load and run."""
    from generators.backends import TransformersConfig, make_backend

    prompt = text[:200]
    with make_backend(TransformersConfig(model=str(model_dir), device="cpu", dtype="float32")) as backend:
        [[completion]] = backend.generate([prompt], temperature=0, max_tokens=max_tokens)
        tokens = backend.tokenizer(prompt, add_special_tokens=False).input_ids
    return {
        "ok": True,
        "prompt": prompt,
        "prompt_tokens": len(tokens),
        "prompt_uses_new_tokens": bool(new_ids and new_ids.intersection(tokens)),
        "completion": completion.text,
        "completion_tokens": completion.completion_tokens,
    }
