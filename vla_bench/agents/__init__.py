"""Agents: the policy interface, loaders for every ``--agent`` form, and the built-in baselines."""

from vla_bench.agents.loaders import agent_from_object, load_agent
from vla_bench.agents.policy import BatchedPolicy, LoadedAgent, Policy, is_batched

__all__ = ["BatchedPolicy", "LoadedAgent", "Policy", "agent_from_object", "is_batched", "load_agent"]
