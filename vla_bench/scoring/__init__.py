"""Scoring: statistics over stored episode records (scores with intervals, paired comparisons, rank ranges,
robustness drops, safety means, multi-run aggregates, sequential tests).

Pure functions of records and the protocol: the harness scores a run with them and the leaderboard server
recomputes every submission with the same code. Imports nothing of vla_bench but spec."""
