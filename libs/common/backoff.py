"""Capped exponential backoff with full jitter (a random delay in [0, min(cap, base * 2^n)])."""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class Backoff:
    base_s: float = 0.05
    cap_s: float = 2.0
    rng: random.Random = field(default_factory=random.Random)

    def delay(self, attempt: int) -> float:
        """Delay before retry number ``attempt`` (0 for the first retry)."""
        return self.rng.uniform(0.0, min(self.cap_s, self.base_s * (2**attempt)))
