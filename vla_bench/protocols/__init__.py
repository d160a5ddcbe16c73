"""Protocols: which versioned protocols exist (catalog) and the episodes each one defines (plan).

Below the harness and the server alike: both read protocols from here, and nothing here loads an adapter."""

from vla_bench.protocols.catalog import (
    benchmark_description,
    benchmark_names,
    get_protocol,
    load_protocol,
    protocol_ids,
)

__all__ = ["benchmark_description", "benchmark_names", "get_protocol", "load_protocol", "protocol_ids"]
