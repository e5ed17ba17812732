"""Offline evals: golden JSONL -> the same scorers the workers run -> report and a CI exit code.

`python -m processor.offline` is the gate (see its --help for flags and exit codes);
`python -m processor.offline.harvest` turns low-scoring production results into golden candidates.
"""
