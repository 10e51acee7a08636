"""The data side of the benchmarks, usable from every layer: problem sets and their loaders (`problems`), problem
names across miniF2F versions (`names`), the pass@k estimator (`passk`) and published results (`published`)."""
