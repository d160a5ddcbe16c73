"""Schemathesis against the API on SQLite and PostgreSQL: generated requests (valid and invalid) never get a
5xx, and every answer matches the OpenAPI document (status declared, body schema, content type)."""

from __future__ import annotations

import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from leaderboard_testing import Bundles, DatabaseFactory, make_server
from schemathesis import GenerationMode, checks
from schemathesis.core.result import Ok

CHECKS = [checks.not_a_server_error, checks.response_schema_conformance, checks.status_code_conformance,
          checks.content_type_conformance]
EXAMPLES = 4  # per operation and mode (valid, invalid requests): about 150 generated requests per backend


def test_no_server_errors_and_answers_match_the_document(databases: DatabaseFactory, bundles: Bundles) -> None:
    server = make_server(databases.fresh())
    try:
        with TestClient(server.app) as client:  # two submissions (ids 1, 2) for generated ids to find
            for name in ("random", "zero"):
                posted = client.post("/api/v1/submissions", json=bundles.document(name), headers=server.user)
                assert posted.status_code == 201, posted.text
        schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", server.app)
        results = list(schema.get_all_operations())
        assert all(isinstance(result, Ok) for result in results), results  # every operation's schema resolves
        operations = [result.ok() for result in results if isinstance(result, Ok)]
        assert len(operations) >= 15
        for operation in operations:
            headers = server.admin if operation.method in ("patch", "delete") else server.user
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                _check(operation, headers, mode)
    finally:
        server.db.dispose()


def _check(operation: schemathesis.APIOperation, headers: dict[str, str], mode: GenerationMode) -> None:
    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode))
    def conforms(case: schemathesis.Case) -> None:
        case.call_and_validate(headers=headers, checks=CHECKS)

    try:
        conforms()
    except Unsatisfiable:  # nothing to make invalid: an operation without parameters or body
        assert mode is GenerationMode.NEGATIVE, operation.path
