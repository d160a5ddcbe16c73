"""Meta-World (metaworld 3.x): the 50 Sawyer v3 manipulation tasks, MT1/MT10/MT50, held-out ML10/ML45 test tasks
and a LeRobot-style pixel track."""
