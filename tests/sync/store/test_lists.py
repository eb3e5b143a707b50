"""``one_of``: a long list as each dialect takes it best, with the same rows either way."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from sync.partners import PartnerInput, add_partner
from sync.settings import ProgramSettings
from sync.store import Partner
from sync.store.lists import one_of


def test_one_of_finds_what_in_finds(store: sessionmaker[Session]) -> None:
    """Also for a list of thousands, quotes and all; on PostgreSQL as one array parameter."""
    for partner_id in ("ACME", "INITECH", "O.Brien-1"):
        add_partner(store, PartnerInput(partner_id, partner_id.title(), "gold"), ProgramSettings(),
                    actor="test")  # fmt: skip
    wanted = [
        "ACME",
        "O.Brien-1",
        "it's'; DROP TABLE partners; --",
        *(f"P{n}" for n in range(3000)),
    ]
    with store() as session:
        dialect = session.get_bind().dialect.name
        condition = one_of(Partner.id, wanted, dialect)
        found = session.scalars(select(Partner.id).where(condition).order_by(Partner.id)).all()
        expected = session.scalars(
            select(Partner.id).where(Partner.id.in_(wanted)).order_by(Partner.id)
        ).all()
        assert found == expected == ["ACME", "O.Brien-1"]
        assert (
            session.scalars(select(Partner.id).where(one_of(Partner.id, [], dialect))).all() == []
        )
        compiled = str(select(Partner.id).where(condition).compile(session.get_bind()))
    long_name = "Acme " + "x" * 200  # longer than the id column the expression starts with
    with store() as session:
        session.get(Partner, "ACME").name = long_name  # type: ignore[union-attr]
        session.commit()
        pair = Partner.id + "|" + Partner.name
        wanted_pairs = [f"ACME|{long_name}", "INITECH|Initech"]
        found = session.scalars(select(Partner.id).where(one_of(pair, wanted_pairs, dialect)))
        assert sorted(found) == ["ACME", "INITECH"]
    if dialect == "postgresql":
        assert "= ANY (" in compiled
        assert compiled.count("%(") == 1  # one parameter, whatever the list's length
