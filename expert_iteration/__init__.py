"""Expert iteration, the SubgoalXL learning loop: each round's verified proofs become the next round's training data.

Per round (`loop.ExpertIteration`): sample statements, subgoal lists and proofs on the training problems
(`sampling`), verify them with the agent's checkers (`verification`), score them with another model (`scoring`),
keep k of n by statistical rejection sampling (`rejection`, `selection`), build one SFT dataset per generator or one
for all roles (`build`, `dataset`, `library`), fine-tune with TRL (`training`), evaluate with the agent on the
held-out problems (`evaluation`). State and the model registry live in `ei_*` tables of the run store (`state`);
`curve.round_curve` reads the per-round numbers. Configuration: `config.IterateConfig` (TOML).
"""
