"""The people of the sandbox's CRMs: the integration user and the sales reps.

Salesforce keeps them as ``User`` records (``LastModifiedById``, ``OwnerId`` and
``LastModifiedBy.Name`` resolve to them); HubSpot's deals name their editor by user id
only (``hs_updated_by_user_id``). A rep is known by a number: Salesforce user ``n`` has
the id ``salesforce_user_id(n)``, HubSpot user ``n`` the id ``str(n)``.
"""

from __future__ import annotations

from dataclasses import dataclass

from sandbox.salesforce.ids import USER_ID, user_id

__all__ = ["INTEGRATION_USER", "SALESFORCE_USERS", "SandboxUser", "salesforce_user"]

_FIRST = ("Ada", "Bram", "Chioma", "Dmitri", "Elif", "Farah", "Goran", "Hana", "Ines", "Jonas")
_LAST = ("Okafor", "Lindqvist", "Moreau", "Tanaka", "Novak")


@dataclass(frozen=True)
class SandboxUser:
    """One Salesforce user: its number (0: the integration user), id, name, username."""

    number: int
    id: str
    name: str

    @property
    def username(self) -> str:
        return f"user{self.number}@partnersync.test"


INTEGRATION_USER = SandboxUser(0, USER_ID, "Integration User")
#: The integration user and 50 sales reps, numbers 1 to 50.
SALESFORCE_USERS: tuple[SandboxUser, ...] = (
    INTEGRATION_USER,
    *(
        SandboxUser(n, user_id(n), f"{_FIRST[(n - 1) % 10]} {_LAST[(n - 1) // 10]}")
        for n in range(1, 51)
    ),
)


def salesforce_user(number: int) -> SandboxUser:
    """Sales rep ``number`` (1 to 50), or the integration user (0)."""
    if not 0 <= number < len(SALESFORCE_USERS):
        raise ValueError(f"the sandbox has users 0 to {len(SALESFORCE_USERS) - 1}, not {number}")
    return SALESFORCE_USERS[number]
