"""``codehearth eval``: compare models on the user's own repository and machine (issue 13).

tasks.py mines cursor positions from the workspace, runner.py sends them through the real completion service one
model at a time, store.py keeps per-task results for resuming, scoring.py and report.py turn them into numbers,
tables and plots, weights.py reads local acceptance statistics (``--from-stats``), cli.py wires the command.
"""
