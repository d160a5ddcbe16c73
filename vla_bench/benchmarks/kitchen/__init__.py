"""Long-horizon instruction chains on Gymnasium-Robotics FrankaKitchen-v1 (the chain engine's everywhere-runnable
benchmark: the same rules and metrics as CALVIN's LH-MTLC)."""
