"""D4RL's evaluation protocols on the environments that carry them on: Gymnasium MuJoCo v5 (locomotion) and
Gymnasium-Robotics (AntMaze v5, FrankaKitchen-v1, AdroitHand*-v1, PointMaze v3 = maze2d)."""
