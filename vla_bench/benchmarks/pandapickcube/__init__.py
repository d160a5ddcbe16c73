"""serl's PandaPickCube (RLinf's MuJoCo pick benchmark) on PyPI gym-hil's port of it."""
