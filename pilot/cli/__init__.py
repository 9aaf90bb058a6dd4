"""The command-line programs: `pilot` (and its sub-commands), `containerpilot`, `pilot ctl`,
`pilot logs` and `pilot traffic`. Argument parsing and printing only."""
