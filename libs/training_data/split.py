"""Train/eval split by a hash of the record id, so a record never changes side between runs.

The score depends only on the id (blake2b, not Python's per-process salted ``hash()``), and a record
is held out when its score is below the fraction: raising ``eval_fraction`` only moves records from
train to eval, never the other way.
"""

from __future__ import annotations

import hashlib
from typing import Final

# A personalization string keeps this score independent of other blake2b uses of the same ids.
_PERSON: Final = b"tuneline-split"
# A float holds 53 bits exactly; dividing all 64 would round the largest hashes up to 1.0.
_BITS: Final = 53


def eval_score(record_id: str) -> float:
    """A stable number in [0, 1) for ``record_id``, uniform over ids."""
    digest = hashlib.blake2b(record_id.encode(), digest_size=8, person=_PERSON).digest()
    return (int.from_bytes(digest, "big") >> (64 - _BITS)) / (1 << _BITS)


def is_eval(record_id: str, eval_fraction: float) -> bool:
    """True when the record belongs to the held-out side at this fraction."""
    if not 0.0 < eval_fraction < 1.0:
        raise ValueError(f"eval_fraction must be in (0, 1), got {eval_fraction}")
    return eval_score(record_id) < eval_fraction
