"""robomimic's simulated tasks (Lift, Can, Square, Transport, ToolHang) on robosuite 1.5, built the way
robomimic builds its evaluation environments from a v1.5 dataset's ``env_args``, without robomimic itself."""
