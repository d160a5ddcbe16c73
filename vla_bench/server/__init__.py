"""The leaderboard server: REST API for results bundles, leaderboard database, web pages.

It imports ``vla_bench.spec`` and the harness's pure parts (registry, plan, scoring, compare, bundle) but
never the runner or a simulator: it runs on machines with no simulator installed.
"""
