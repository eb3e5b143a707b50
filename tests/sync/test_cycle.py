"""The cycle: mapping checked once per process, pull every CRM, then push each."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from sandbox import Sandbox, SandboxServer, seed_hubspot, seed_salesforce
from sync.crm import CrmLink
from sync.cycle import Cycle
from sync.mapping import MappingError, parse_mapping
from sync.settings import Settings
from tests.sync.links import HS_MAPPING, REPO, SF_MAPPING, hubspot, salesforce


def _links(server: SandboxServer) -> list[CrmLink]:
    return [CrmLink(salesforce(server), SF_MAPPING), CrmLink(hubspot(server), HS_MAPPING)]


def test_a_cycle_pulls_every_crm_then_pushes_each(
    sandbox: Sandbox, sandbox_server: SandboxServer, store: sessionmaker[Session]
) -> None:
    """Both CRMs are mirrored with drift correction on, then pushed; the mapping check is
    made once per process: a second cycle costs no describe call."""
    seed_salesforce(sandbox, 30)
    seed_hubspot(sandbox, 30)
    cycle = Cycle(Settings(), store, configured=_links(sandbox_server))
    report = cycle.run()
    assert [(r.crm, r.upserted) for r in report.pulls] == [("salesforce", 30), ("hubspot", 30)]
    assert [(r.crm, r.sent) for r in report.pushes] == [("salesforce", 0), ("hubspot", 0)]
    assert report.as_dict()["pull"][0]["drifted"] == 0
    sandbox.stats.reset()
    Cycle(Settings(), store, configured=_links(sandbox_server)).run()
    endpoints = sandbox.stats.snapshot()["endpoints"]
    assert not [e for e in endpoints if "describe" in e or "properties" in e]


def test_a_field_the_crm_lacks_stops_the_cycle_before_any_page(
    tmp_path: Path, sandbox: Sandbox, sandbox_server: SandboxServer, store: sessionmaker[Session]
) -> None:
    """The mapping is checked against the CRM's metadata first: a typo names the file and
    key, and no page is read."""
    seed_hubspot(sandbox, 5)
    text = (
        (REPO / "mappings" / "hubspot.toml")
        .read_text()
        .replace('stage          = "dealstage"', 'stage          = "deal_stage"')
    )
    typo = parse_mapping(text, "custom/hubspot.toml")
    cycle = Cycle(Settings(), store, configured=[CrmLink(hubspot(sandbox_server), typo)])
    sandbox.stats.reset()
    with pytest.raises(MappingError) as info:
        cycle.run()
    assert "custom/hubspot.toml: inbound.stage: deals has no field 'deal_stage'" in str(info.value)
    assert sandbox.stats.count("GET /crm/v3/objects/deals") == 0
