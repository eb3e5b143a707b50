"""The payout state machine. Pure: a state and an action in, the next state out.

``accrued`` -> ``approved`` -> ``scheduled`` -> ``paid``; ``approved`` may be paid without
a schedule; any state but ``reversed`` may be ``reversed`` (a paid payout's reversal is a
claw-back: the negating ledger row is what the partner owes back). A transition the state
does not allow raises :class:`IllegalPayoutTransition` naming the state.
"""

from __future__ import annotations

from enum import StrEnum

from rules.vocabulary import PayoutStatus

__all__ = ["PAYABLE_FROM", "IllegalPayoutTransition", "PayoutAction", "next_status"]


class PayoutAction(StrEnum):
    APPROVE = "approve"
    SCHEDULE = "schedule"
    PAY = "pay"
    REVERSE = "reverse"


_S = PayoutStatus
_ALLOWED: dict[PayoutAction, tuple[frozenset[PayoutStatus], PayoutStatus]] = {
    PayoutAction.APPROVE: (frozenset({_S.ACCRUED}), _S.APPROVED),
    PayoutAction.SCHEDULE: (frozenset({_S.APPROVED, _S.SCHEDULED}), _S.SCHEDULED),
    PayoutAction.PAY: (frozenset({_S.APPROVED, _S.SCHEDULED}), _S.PAID),
    PayoutAction.REVERSE: (frozenset({_S.ACCRUED, _S.APPROVED, _S.SCHEDULED, _S.PAID}),
                           _S.REVERSED),
}  # fmt: skip
#: The states a payout can be paid from.
PAYABLE_FROM = _ALLOWED[PayoutAction.PAY][0]


class IllegalPayoutTransition(ValueError):
    """An action the payout's state does not allow."""

    def __init__(self, action: PayoutAction, status: PayoutStatus) -> None:
        allowed, _ = _ALLOWED[action]
        needs = " or ".join(sorted(s.value for s in allowed))
        super().__init__(f"cannot {action.value} a payout that is {status.value} (needs {needs})")
        self.action = action
        self.status = status


def next_status(status: PayoutStatus, action: PayoutAction) -> PayoutStatus:
    """The state ``action`` takes a payout in ``status`` to (rescheduling a scheduled
    payout keeps it scheduled)."""
    allowed, target = _ALLOWED[action]
    if status not in allowed:
        raise IllegalPayoutTransition(action, status)
    return target
