"""The service answers as its OpenAPI document says: schemathesis against a real server."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests import servers

CHECKS = "not_a_server_error,status_code_conformance,response_schema_conformance," + (
    "content_type_conformance"
)


class TestOpenAPI:
    async def test_every_operation_never_5xx_and_answers_as_documented(
        self, clean_database: str, tmp_path: Path
    ) -> None:
        """Bounded (10 examples an operation, a fixed seed) so that CI stays quick and repeatable;
        the webhooks, whose bodies are signed, have tests of their own."""
        env = servers.environment(clean_database, tmp_path, log_level="WARNING")
        key = servers.api_key(env)
        async with servers.running(env, tmp_path) as server:
            run = subprocess.run(
                [
                    str(Path(sys.executable).parent / "st"), "run",
                    f"{server.base_url}/openapi.json",
                    "--header", f"Authorization: Bearer {key}",
                    "--checks", CHECKS, "--max-examples", "10", "--seed", "1",
                    "--exclude-path-regex", "^/webhooks", "--generation-database", "none",
                ],
                capture_output=True, text=True, timeout=600, check=False,
                cwd=tmp_path,
            )  # fmt: skip
            assert run.returncode == 0, run.stdout[-5000:] + run.stderr[-2000:]
            assert "Traceback" not in server.log()
