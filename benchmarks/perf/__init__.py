"""Performance benchmarks of the framework itself (`subgoalxl bench ...`).

Each benchmark runs its contenders side by side in one process and reports ratios, because the machines
it runs on are shared and noisy; absolute times are printed too but are not the result. Generation and
checking are replaced by SYNTHETIC stand-ins (`benchmarks.perf.synthetic`) wherever the framework's own
cost is measured: their verdicts are made up, and nothing outside this package imports them.
"""
