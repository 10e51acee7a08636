"""`subgoalxl doctor`: what this machine has for proof search, and how to get what is missing.

Nothing heavy is imported here: packages are looked up by metadata, GPUs by `nvidia-smi`.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import shutil
from dataclasses import asdict, dataclass
from enum import StrEnum

from isabelle_env.errors import IsabelleError, IsabelleNotFoundError
from isabelle_env.install.releases import MINIF2F_SESSIONS  # also re-exported from here
from isabelle_env.installation import HOW_TO_GET_ISABELLE, IsabelleInstallation, find_isabelle
from isabelle_env.process import run_command
from isabelle_env.user_dirs import cache_dir, data_dir, writable_problem


class Status(StrEnum):
    OK = "ok"
    WARN = "warn"
    MISSING = "missing"


@dataclass(frozen=True)
class Check:
    component: str
    status: Status
    detail: str
    fix: str = ""
    required: bool = True

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def check_isabelle(explicit: str | None = None) -> list[Check]:
    try:
        inst = find_isabelle(explicit)
    except IsabelleNotFoundError as exc:
        return [Check("Isabelle", Status.MISSING, str(exc).split(":")[0], HOW_TO_GET_ISABELLE)]
    try:
        version = inst.version
        heaps = inst.built_heaps()
    except IsabelleError as exc:
        return [
            Check(
                "Isabelle",
                Status.WARN,
                f"{inst.executable} (via {inst.found_via}) does not run: {exc}",
                "check the installation (run `isabelle version` by hand) or point ISABELLE_HOME at another one",
            )
        ]
    found = [Check("Isabelle", Status.OK, f"{version} at {inst.home} (via {inst.found_via})")]
    missing = [s for s in MINIF2F_SESSIONS if s not in heaps]
    detail = f"built: {', '.join(heaps) or 'none'}"
    if missing:
        build = f"{inst.executable} build -b {' '.join(missing)}"
        if inst.found_via == "recorded":  # ours: rebuild in place, heaps inside the installation
            build = f"subgoalxl isabelle install --version {version} (builds only), or {build}"
        found.append(Check("Isabelle heaps", Status.WARN, f"{detail}; not built: {', '.join(missing)}", build))
    else:
        found.append(Check("Isabelle heaps", Status.OK, detail))
    found += check_sessions(inst)
    found.append(check_sledgehammer(inst))
    return found


def check_sessions(inst: IsabelleInstallation) -> list[Check]:
    """Each session with a built heap and which miniF2F imports it holds; then whether one holds them all."""
    from isabelle_env.session_select import installation_sessions
    from isabelle_env.sessions import AFP_HINT, AFP_IMPORTS, BUILD_HINT, MINIF2F_IMPORTS

    sessions = sorted(installation_sessions(inst), key=lambda s: (s.rank, s.name))
    checks = []
    for session in sessions:
        held = [i for i in MINIF2F_IMPORTS if i in session.holds]
        lacks = session.missing(MINIF2F_IMPORTS)
        where = f"; ROOT in {session.dirs[0]}" if session.dirs else ""
        detail = f"{session.origin}: holds {len(held)} of {len(MINIF2F_IMPORTS)} miniF2F imports" + (
            f"; lacks {', '.join(lacks)}" if lacks else " (all)"
        )
        checks.append(Check(f"session {session.name}", Status.OK, detail + where, required=False))
    distribution = [i for i in MINIF2F_IMPORTS if i not in AFP_IMPORTS]
    full = [s.name for s in sessions if not s.missing(distribution)]
    everything = [s.name for s in sessions if not s.missing(MINIF2F_IMPORTS)]
    if everything:
        checks.append(Check("miniF2F session", Status.OK, f"{everything[0]} holds every miniF2F import"))
    elif full:
        checks.append(
            Check(
                "miniF2F session",
                Status.OK,
                f"{full[0]} holds every miniF2F import but the AFP's {', '.join(sorted(AFP_IMPORTS))} "
                "(two valid problems)",
                AFP_HINT,
                required=False,
            )
        )
    else:
        best = max(sessions, key=lambda s: len(MINIF2F_IMPORTS) - len(s.missing(MINIF2F_IMPORTS)), default=None)
        lacks = ", ".join(best.missing(distribution)) if best else ", ".join(distribution)
        checks.append(
            Check(
                "miniF2F session",
                Status.WARN,
                f"no built session holds every miniF2F import (best: {best.name if best else 'none'}, lacks {lacks}):"
                " problems importing them load those libraries from source in every check",
                BUILD_HINT.capitalize(),
                required=False,
            )
        )
    return checks


def check_sledgehammer(inst: IsabelleInstallation) -> Check:
    """Which external provers Sledgehammer will find; official releases bundle all five."""
    provers = inst.sledgehammer_provers()
    have = [name for name, where in provers.items() if where]
    lacking = [name for name, where in provers.items() if not where]
    detail = f"found: {', '.join(have) or 'none'}" + (f"; not found: {', '.join(lacking)}" if lacking else "")
    if not lacking:
        return Check("Sledgehammer provers", Status.OK, detail, required=False)
    return Check(
        "Sledgehammer provers",
        Status.WARN,
        detail,
        "official releases bundle E, Vampire, Z3, cvc5 and veriT: `subgoalxl isabelle install`; or install the "
        "prover and set its variable (e.g. E_HOME) in $ISABELLE_HOME_USER/etc/settings",
        required=False,
    )


def _package(name: str) -> str | None:
    if importlib.util.find_spec(name) is None:
        return None
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "unknown version"


def check_python_packages() -> list[Check]:
    checks = []
    ray = _package("ray")
    checks.append(
        Check("Ray", Status.OK, f"ray {ray} (local by default, --ray-address for a cluster)")
        if ray
        else Check("Ray", Status.MISSING, "ray is not installed", "pip install 'ray>=2.60,<3'")
    )
    torch = _package("torch")
    checks.append(
        Check("PyTorch", Status.OK, f"torch {torch}", required=False)
        if torch
        else Check(
            "PyTorch",
            Status.WARN,
            "torch is not installed: local (transformers) generation and fine-tuning are unavailable",
            "pip install torch==2.13.0 && pip install -e '.[ml]'",
            required=False,
        )
    )
    vllm = _package("vllm")
    checks.append(
        Check("vLLM", Status.OK, f"vllm {vllm}", required=False)
        if vllm
        else Check(
            "vLLM",
            Status.WARN,
            "vllm is not installed (optional; needs a GPU host)",
            "on a GPU host: pip install -e '.[vllm]' in its own environment, or use any OpenAI-compatible "
            "server (`vllm serve MODEL`) over HTTP",
            required=False,
        )
    )
    return checks


def check_gpus() -> Check:
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return Check(
            "GPUs",
            Status.WARN,
            "no NVIDIA GPU found (nvidia-smi is not on PATH): generation runs on CPU or a remote server",
            "serve a model on a GPU host (`vllm serve MODEL`) and reach it over its OpenAI-compatible API",
            required=False,
        )
    try:
        result = run_command([smi, "-L"], timeout=20)
    except IsabelleError as exc:
        return Check("GPUs", Status.WARN, f"nvidia-smi failed: {exc}", "check the NVIDIA driver", required=False)
    gpus = [line for line in result.stdout.splitlines() if line.startswith("GPU ")]
    if result.returncode != 0 or not gpus:
        return Check(
            "GPUs",
            Status.WARN,
            f"nvidia-smi found no GPU: {result.stderr.strip()[:200]}",
            "check the NVIDIA driver",
            required=False,
        )
    return Check("GPUs", Status.OK, "; ".join(gpus), required=False)


def check_dirs() -> list[Check]:
    checks = []
    for label, path, env in (
        ("cache dir", cache_dir(), "SUBGOALXL_CACHE_DIR"),
        ("data dir", data_dir(), "SUBGOALXL_DATA_DIR"),
    ):
        problem = writable_problem(path)
        checks.append(
            Check(label, Status.OK, f"{path} (writable)")
            if problem is None
            else Check(label, Status.MISSING, problem, f"set {env} to a writable folder")
        )
    return checks


def run_doctor(isabelle: str | None = None) -> list[Check]:
    return [*check_isabelle(isabelle), *check_python_packages(), check_gpus(), *check_dirs()]
