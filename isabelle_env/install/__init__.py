"""Installing Isabelle releases (`subgoalxl isabelle install`): one concept per module.

`releases` (which releases exist, where their archives are), `download` (resumable, checked downloads),
`archive` (safe unpacking), `registry` (what is installed where), `errors`, `runner` (progress reporting, and
`isabelle build` under supervision) and `installer` (the steps: fetch, verify, unpack atomically, AFP, heaps, the
miniF2F session). Progress goes to a `Reporter` the caller supplies; the base class is silent, the command line
passes one that draws progress bars.
"""

from isabelle_env.install.errors import InstallError
from isabelle_env.install.installer import InstallOptions, install_isabelle, remove_installation
from isabelle_env.install.runner import Reporter

__all__ = ["InstallError", "InstallOptions", "Reporter", "install_isabelle", "remove_installation"]
