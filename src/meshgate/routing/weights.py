"""Weighted destination choice (istio-semantics.md sec. 3.7 rule 6), with the RNG injected.

Compiled once per route: destinations with weight 0 are dropped (when there are several), the
rest are kept with cumulative weights, so a pick is one `rng()` call and one bisection. A single
destination is always picked and its weight ignored, exactly like Istio (it emits a plain cluster).
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from meshgate import ir

__all__ = ["Rng", "WeightedPicker"]

Rng = Callable[[], float]
"""Returns a float in [0, 1), like `random.random`."""


@dataclass(frozen=True, slots=True)
class WeightedPicker:
    choices: tuple[ir.WeightedCluster, ...]  # weight > 0, in configuration order
    cumulative: tuple[int, ...]  # running sums of the choices' weights
    total: int

    @classmethod
    def build(cls, destinations: Sequence[ir.WeightedCluster]) -> WeightedPicker:
        if len(destinations) == 1:
            return cls(tuple(destinations), (1,), 1)
        choices = tuple(d for d in destinations if d.weight > 0)
        running = 0
        cumulative: list[int] = []
        for choice in choices:
            running += choice.weight
            cumulative.append(running)
        return cls(choices, tuple(cumulative), running)

    def pick_index(self, rng: Rng) -> int:
        """Index into `choices` of the chosen destination; -1 when none has a positive weight."""
        count = len(self.choices)
        if count <= 1:
            return count - 1  # a single destination needs no random number
        index = bisect.bisect_right(self.cumulative, rng() * self.total)
        # A misbehaving rng returning >= 1.0 must still land on a real destination.
        return index if index < count else count - 1

    def pick(self, rng: Rng) -> ir.WeightedCluster | None:
        """The chosen destination; None when nothing has a positive weight (answered as 503 NC)."""
        index = self.pick_index(rng)
        return self.choices[index] if index >= 0 else None

    def share(self, destination: ir.WeightedCluster) -> float:
        """The fraction of requests `destination` receives (for explain and tests)."""
        if not self.total:
            return 0.0
        if len(self.choices) == 1:
            return 1.0 if destination is self.choices[0] else 0.0
        return sum(c.weight for c in self.choices if c is destination) / self.total
