"""The harness: protocols, episode plan, runner and executors, scoring, results bundle."""
