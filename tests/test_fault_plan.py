"""``FaultPlan``: which fault the next Response to an SP carries, and what was sent last."""

from __future__ import annotations

import pytest

from idp.fault_plan import FaultPlan, PlannedFault
from idp.faults import Fault

AWS = "urn:amazon:webservices"
APP = "https://app.example.test/saml"


@pytest.fixture
def plan() -> FaultPlan:
    return FaultPlan()


def takes(plan: FaultPlan, sp: str, n: int) -> list[Fault | None]:
    return [plan.take(sp) for _ in range(n)]


def test_an_empty_plan_injects_nothing(plan):
    assert plan.take(AWS) is None
    assert plan.planned() == []


def test_next_n_is_used_n_times_then_vanishes(plan):
    plan.add(Fault.EXPIRED, count=2)
    assert plan.planned() == [PlannedFault(Fault.EXPIRED, None, 2)]
    assert plan.take(AWS) is Fault.EXPIRED
    assert plan.planned() == [PlannedFault(Fault.EXPIRED, None, 1)]
    assert plan.take(APP) is Fault.EXPIRED  # any SP
    assert plan.planned() == []
    assert plan.take(AWS) is None


def test_next_n_plans_are_used_oldest_first(plan):
    plan.add(Fault.UNSIGNED, count=1)
    plan.add(Fault.TAMPERED, count=2)
    plan.add(Fault.SHA1, count=1)
    assert takes(plan, AWS, 5) == [Fault.UNSIGNED, Fault.TAMPERED, Fault.TAMPERED, Fault.SHA1,
                                   None]


def test_next_n_plans_come_before_a_standing_fault_even_if_newer(plan):
    plan.add(Fault.WRONG_AUDIENCE, sp=AWS)  # standing, added first
    plan.add(Fault.EXPIRED, count=1)
    plan.add(Fault.XSW, sp=AWS, count=1)
    assert takes(plan, AWS, 4) == [Fault.EXPIRED, Fault.XSW, Fault.WRONG_AUDIENCE,
                                   Fault.WRONG_AUDIENCE]


def test_a_per_sp_plan_skips_other_sps(plan):
    plan.add(Fault.EXPIRED, sp=APP, count=1)
    assert plan.take(AWS) is None
    assert plan.planned() == [PlannedFault(Fault.EXPIRED, APP, 1)]  # not counted down
    assert plan.take(APP) is Fault.EXPIRED
    assert plan.take(APP) is None


def test_an_other_sps_older_plan_does_not_block_a_newer_any_sp_plan(plan):
    plan.add(Fault.EXPIRED, sp=APP, count=1)
    plan.add(Fault.UNSIGNED, count=1)
    assert plan.take(AWS) is Fault.UNSIGNED
    assert plan.take(AWS) is None
    assert plan.take(APP) is Fault.EXPIRED


def test_a_standing_fault_lasts_until_cleared(plan):
    plan.add(Fault.TAMPERED, sp=AWS)
    assert takes(plan, AWS, 3) == [Fault.TAMPERED] * 3
    assert plan.take(APP) is None
    assert plan.planned() == [PlannedFault(Fault.TAMPERED, AWS, None)]


def test_a_standing_fault_needs_an_sp(plan):
    with pytest.raises(ValueError, match="needs an SP"):
        plan.add(Fault.EXPIRED)
    assert plan.planned() == []


def test_a_new_standing_fault_replaces_that_sps_previous_one(plan):
    plan.add(Fault.TAMPERED, sp=AWS)
    plan.add(Fault.UNSIGNED, sp=APP)
    plan.add(Fault.EXPIRED, sp=AWS, count=1)  # a next-N plan is not a standing one: kept
    plan.add(Fault.SHA1, sp=AWS)
    assert plan.planned() == [PlannedFault(Fault.UNSIGNED, APP, None),
                              PlannedFault(Fault.EXPIRED, AWS, 1),
                              PlannedFault(Fault.SHA1, AWS, None)]
    assert takes(plan, AWS, 2) == [Fault.EXPIRED, Fault.SHA1]


def test_add_returns_the_plan(plan):
    made = plan.add(Fault.XSW, sp=AWS, count=3)
    assert made == PlannedFault(Fault.XSW, AWS, 3)
    assert made.to_json() == {"fault": "xsw", "sp": AWS, "remaining": 3}
    assert PlannedFault(Fault.XSW, None, None).to_json() == {"fault": "xsw", "sp": None,
                                                            "remaining": None}


def test_planned_is_a_copy(plan):
    plan.add(Fault.EXPIRED, count=2)
    listed = plan.planned()
    listed[0].remaining = 99
    listed.clear()
    assert plan.planned() == [PlannedFault(Fault.EXPIRED, None, 2)]


@pytest.mark.parametrize("count", [0, -1, 1_000_001])
def test_bad_counts_are_refused(plan, count):
    with pytest.raises(ValueError, match="count must be a whole number between 1 and 1000000"):
        plan.add(Fault.EXPIRED, sp=AWS, count=count)
    assert plan.planned() == []


def test_the_largest_count_is_accepted(plan):
    assert plan.add(Fault.EXPIRED, count=1_000_000).remaining == 1_000_000


def test_clear_sp_forgets_only_that_sps_plans(plan):
    plan.add(Fault.TAMPERED, sp=AWS)
    plan.add(Fault.EXPIRED, sp=AWS, count=3)
    plan.add(Fault.UNSIGNED, sp=APP)
    plan.add(Fault.SHA1, count=1)
    plan.remember(AWS, "bob", b"<Response/>")
    plan.clear(AWS)
    assert plan.planned() == [PlannedFault(Fault.UNSIGNED, APP, None),
                              PlannedFault(Fault.SHA1, None, 1)]
    assert plan.last(AWS, "bob") == b"<Response/>"  # remembered Responses stay


def test_clear_forgets_every_plan_and_every_remembered_response(plan):
    plan.add(Fault.TAMPERED, sp=AWS)
    plan.add(Fault.SHA1, count=5)
    plan.remember(AWS, "bob", b"a")
    plan.remember(APP, "bob", b"b")
    plan.clear()
    assert plan.planned() == []
    assert plan.take(AWS) is None
    assert plan.last(AWS, "bob") is None and plan.last(APP, "bob") is None


def test_remember_and_last_are_per_user(plan):
    plan.remember(AWS, "alice", b"alice's")
    assert plan.last(AWS, "bob") is None and plan.last(AWS, "alice") == b"alice's"


def test_aws_only_faults_wait_for_aws(plan):
    plan.add(Fault.MISSING_ROLE, count=1)
    assert plan.take(APP) is None
    assert plan.take(AWS) is Fault.MISSING_ROLE
    with pytest.raises(ValueError, match="applies only to AWS"):
        plan.add(Fault.BAD_ROLE_SESSION_NAME, sp=APP)


@pytest.mark.parametrize("count", [1.5, True, "2", 0])
def test_counts_are_whole_positive_numbers(plan, count):
    with pytest.raises(ValueError, match="count must be"):
        plan.add(Fault.SHA1, count=count)


def test_remember_and_last_are_per_sp(plan):
    assert plan.last(AWS, "bob") is None
    plan.remember(AWS, "bob", b"first")
    plan.remember(APP, "bob", b"other")
    plan.remember(AWS, "bob", b"second")
    assert plan.last(AWS, "bob") == b"second"
    assert plan.last(APP, "bob") == b"other"
