"""LIBERO (Lifelong-Robot-Learning/LIBERO, PyPI ``libero`` 0.1.1) in its own runtime: robosuite 1.4.0, numpy < 2.

The adapter module is imported inside the env worker of the LIBERO runtime; libero, robosuite and torch are
imported only inside functions, so the orchestrator can list and plan LIBERO protocols without them.
"""
