"""The editor benchmark's measure in a real VS Code (issue 21 point 1): python -m benchmarks.vscode."""
