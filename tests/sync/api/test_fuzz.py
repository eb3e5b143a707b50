"""Property-based requests over the app's own OpenAPI document (schemathesis): as an
admin, as a partner and with no key, no request gets a 500 and no response breaks the
schema the document promises. A bounded number of examples per operation keeps it in CI."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis import checks
from schemathesis.generation.case import Case

from sync.api.app import create_app
from sync.store import make_engine, session_factory, upgrade
from tests.sync.api.world import NOW, World, build, settings_for

CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
]

# The schema is read from the app at collection; the store behind it is migrated and
# filled by the fixture before the first request.
_FOLDER = Path(tempfile.mkdtemp(prefix="partnersync-fuzz-"))
_URL = f"sqlite:///{_FOLDER / 'ps.db'}"
_ENGINE = make_engine(_URL)
_APP = create_app(settings_for(rate_per_second=0), factory=session_factory(_ENGINE),
                  clock=lambda: NOW)  # fmt: skip
schema = schemathesis.openapi.from_asgi("/openapi.json", _APP)


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    upgrade(_URL)
    yield build(session_factory(_ENGINE))
    _ENGINE.dispose()
    shutil.rmtree(_FOLDER, ignore_errors=True)


@schema.parametrize()
# No shrinking: a failure is reported as found, and a run with one stays short.
@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck),
          phases=(Phase.explicit, Phase.reuse, Phase.generate))  # fmt: skip
def test_no_server_errors_and_responses_match_the_schema(case: Case, world: World) -> None:
    for who in ("admin", "A", "none"):
        case.call_and_validate(headers={**(case.headers or {}), **world.headers(who)},
                               checks=CHECKS)  # fmt: skip
