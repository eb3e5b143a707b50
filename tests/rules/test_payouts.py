"""rules.payouts: every action from every state."""

from __future__ import annotations

import pytest

from rules.payouts import IllegalPayoutTransition, PayoutAction, next_status
from rules.vocabulary import PayoutStatus

A, S = PayoutAction, PayoutStatus
TABLE = {
    # state: {action: next state, or None when refused}
    S.ACCRUED: {A.APPROVE: S.APPROVED, A.SCHEDULE: None, A.PAY: None, A.REVERSE: S.REVERSED},
    S.APPROVED: {A.APPROVE: None, A.SCHEDULE: S.SCHEDULED, A.PAY: S.PAID,
                 A.REVERSE: S.REVERSED},
    S.SCHEDULED: {A.APPROVE: None, A.SCHEDULE: S.SCHEDULED, A.PAY: S.PAID,
                  A.REVERSE: S.REVERSED},
    S.PAID: {A.APPROVE: None, A.SCHEDULE: None, A.PAY: None, A.REVERSE: S.REVERSED},
    S.REVERSED: {A.APPROVE: None, A.SCHEDULE: None, A.PAY: None, A.REVERSE: None},
}  # fmt: skip
CASES = [(state, action, target) for state, row in TABLE.items() for action, target in row.items()]


def test_the_table_covers_every_state_and_action():
    assert set(TABLE) == set(PayoutStatus)
    assert all(set(row) == set(PayoutAction) for row in TABLE.values())


@pytest.mark.parametrize(("state", "action", "target"), CASES)
def test_transition(state: PayoutStatus, action: PayoutAction, target: PayoutStatus | None):
    if target is None:
        with pytest.raises(IllegalPayoutTransition) as caught:
            next_status(state, action)
        assert f"cannot {action.value} a payout that is {state.value}" in str(caught.value)
    else:
        assert next_status(state, action) is target


def test_messages_say_what_is_needed():
    with pytest.raises(IllegalPayoutTransition, match=r"cannot pay a payout that is reversed "
                       r"\(needs approved or scheduled\)"):  # fmt: skip
        next_status(S.REVERSED, A.PAY)
    with pytest.raises(IllegalPayoutTransition, match="cannot approve a payout that is approved"):
        next_status(S.APPROVED, A.APPROVE)
