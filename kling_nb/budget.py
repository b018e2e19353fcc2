"""A client's spending cap: estimated costs checked before anything is sent."""

from __future__ import annotations

from collections.abc import Sequence

from kling_nb.errors import BudgetExceededError
from kling_nb.requests import format_cost

__all__ = ["check", "check_batch"]


def check(budget: float | None, spent: float, cost: float | None) -> None:
    """Raise ``BudgetExceededError`` if ``cost`` does not fit what is left of ``budget``."""
    if budget is None:
        return
    remaining = max(0.0, budget - spent)
    if cost is None:
        raise BudgetExceededError(
            f"This model's price is unknown, so the cost cannot be checked against the "
            f"remaining budget of {format_cost(remaining)}. Use Client(budget_usd=None) to "
            "submit without a budget."
        )
    if cost > remaining + 1e-9:
        raise BudgetExceededError(
            f"Refused: this submission is estimated at {format_cost(cost)}, more than the "
            f"{format_cost(remaining)} left of this client's {format_cost(budget)} "
            f"budget ({format_cost(spent)} spent). Lower num_generations or the "
            "duration, or raise budget_usd."
        )


def check_batch(budget: float | None, spent: float, costs: Sequence[float | None]) -> None:
    """The same for a whole batch, all or nothing: the message says how many would fit."""
    if budget is None:
        return
    known = [c for c in costs if c is not None]
    if len(known) < len(costs):
        check(budget, spent, None)
    try:
        check(budget, spent, sum(known))
    except BudgetExceededError:
        remaining = max(0.0, budget - spent)
        fits, total = 0, 0.0
        for cost in known:
            if total + cost > remaining + 1e-9:
                break
            fits, total = fits + 1, total + cost
        raise BudgetExceededError(
            f"Refused the whole batch before sending anything: its {len(costs)} new "
            f"submissions are estimated at {format_cost(sum(known))}, more than the "
            f"{format_cost(remaining)} left of this client's "
            f"{format_cost(budget)} budget. The first {fits} fit "
            f"({format_cost(total)}); submit fewer, or raise budget_usd."
        ) from None
