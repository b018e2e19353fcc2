"""A client's spending cap: what fits, what is refused, and what the refusal says."""

from __future__ import annotations

import pytest

from kling_nb import budget
from kling_nb.errors import BudgetExceededError


def test_without_a_budget_anything_goes_even_an_unknown_price() -> None:
    budget.check(None, 1000.0, 50.0)
    budget.check(None, 0.0, None)
    budget.check_batch(None, 1000.0, [50.0, None])


def test_a_cost_that_fits_what_is_left_passes() -> None:
    budget.check(2.0, 0.5, 1.5)  # exactly what is left
    budget.check(0.3, 0.1 + 0.2 - 0.3, 0.3)  # float rounding does not refuse an exact fit
    budget.check_batch(2.0, 0.5, [0.5, 1.0])


def test_a_cost_over_what_is_left_is_refused_with_the_sums() -> None:
    with pytest.raises(BudgetExceededError) as refused:
        budget.check(2.0, 1.25, 1.34)
    message = str(refused.value)
    assert "estimated at $1.34, more than the $0.75 left" in message
    assert "$2.00 budget ($1.25 spent)" in message
    assert "budget_usd" in message


def test_an_unknown_price_is_refused_while_a_budget_is_set() -> None:
    with pytest.raises(BudgetExceededError, match=r"price is unknown.*\$1\.50.*budget_usd=None"):
        budget.check(2.0, 0.5, None)


def test_a_budget_already_passed_leaves_nothing_never_a_negative_sum() -> None:
    with pytest.raises(BudgetExceededError) as refused:
        budget.check(0.5, 0.67, 0.1)
    assert "more than the $0.00 left" in str(refused.value)
    with pytest.raises(BudgetExceededError, match=r"more than the \$0\.00 left"):
        budget.check_batch(0.5, 0.67, [0.1])


def test_a_batch_over_budget_is_refused_whole_saying_how_many_fit() -> None:
    with pytest.raises(BudgetExceededError) as refused:
        budget.check_batch(3.0, 0.0, [0.67, 0.67, 0.67, 0.67, 0.67, 0.67])
    message = str(refused.value)
    assert "its 6 new submissions are estimated at $4.02" in message
    assert "more than the $3.00 left" in message
    assert "The first 4 fit ($2.68)" in message


def test_a_batch_counts_the_spent_sum_and_stops_at_the_first_that_does_not_fit() -> None:
    with pytest.raises(BudgetExceededError, match=r"The first 1 fit \(\$0\.50\)"):
        budget.check_batch(2.0, 1.0, [0.5, 1.0, 0.1])


def test_a_batch_with_an_unknown_price_is_refused_as_unknown() -> None:
    with pytest.raises(BudgetExceededError, match="price is unknown"):
        budget.check_batch(100.0, 0.0, [0.5, None])
