"""The `subgoalxl` command line: the top layer. `main` composes one module per command group (`commands/`);
`options` holds the options and exit codes commands share, `progress` the terminal displays. Library packages
hold no command-line code; their errors name fields, not flags."""
