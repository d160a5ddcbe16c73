"""Verified results (issue #12): the server re-runs a secret sample of a submission's episodes against the
policy that was submitted with it and compares them episode by episode.

The API side (artifact storage, sampling, the job queue, copy detection) imports no simulator; only
:mod:`.rerun` (imported by the worker process, ``vla-bench server verify-worker``) runs the harness.
"""
