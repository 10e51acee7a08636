"""One module per command group of `subgoalxl`; each imports its machinery lazily so `--help` stays instant."""
