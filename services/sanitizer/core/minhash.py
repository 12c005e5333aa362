"""Near-duplicate detection: MinHash signatures over word shingles and a banded LSH index.

Signatures use multiply-shift hashing on 64-bit shingle hashes (one vectorized numpy pass per text).
The LSH band/row split is chosen for the threshold by minimizing the false positive and false
negative areas (as datasketch does); candidates are confirmed by the estimated Jaccard similarity.
The index holds at most ``max_entries`` texts and forgets the oldest first, so memory is bounded.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from typing import Final

import numpy as np
import numpy.typing as npt
import xxhash

from services.sanitizer.core.pipeline import Dropped, Outcome, Work
from services.sanitizer.core.policy import NearDedupPolicy

_WORD: Final = re.compile(r"\w+")
_PENDING: Final = 4096  # checked records awaiting `remember` (a batch, or one record in the stream)
Signature = npt.NDArray[np.uint64]


def optimal_bands(threshold: float, num_perm: int, steps: int = 200) -> tuple[int, int]:
    """(bands, rows) with bands * rows <= num_perm minimizing the FP + FN probability areas."""

    def area(lo: float, hi: float, bands: int, rows: int, above: bool) -> float:
        width = (hi - lo) / steps
        total = 0.0
        for i in range(steps):
            s = lo + (i + 0.5) * width
            p = 1.0 - (1.0 - s**rows) ** bands
            total += (1.0 - p if above else p) * width
        return total

    best: tuple[float, int, int] = (float("inf"), 1, num_perm)
    for bands in range(1, num_perm + 1):
        rows = num_perm // bands
        if rows == 0:
            break
        error = area(0.0, threshold, bands, rows, False) + area(threshold, 1.0, bands, rows, True)
        if error < best[0]:
            best = (error, bands, rows)
    return best[1], best[2]


class MinHasher:
    def __init__(self, num_perm: int = 128, shingle_words: int = 5, seed: int = 1) -> None:
        rng = np.random.default_rng(seed)
        self.num_perm = num_perm
        self.shingle_words = shingle_words
        self._a = rng.integers(1, 2**63, size=num_perm, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
        self._b = rng.integers(0, 2**63, size=num_perm, dtype=np.uint64)

    def shingles(self, text: str) -> set[str]:
        words = _WORD.findall(text.lower())
        k = self.shingle_words
        if len(words) <= k:
            return {" ".join(words)}
        return {" ".join(words[i : i + k]) for i in range(len(words) - k + 1)}

    def signature(self, text: str) -> Signature:
        hashes = np.fromiter(
            (xxhash.xxh3_64_intdigest(s.encode()) for s in self.shingles(text)), dtype=np.uint64
        )
        with np.errstate(over="ignore"):
            mixed = hashes[:, None] * self._a[None, :] + self._b[None, :]
        result: Signature = (mixed >> np.uint64(32)).min(axis=0)
        return result


def jaccard_estimate(a: Signature, b: Signature) -> float:
    return float(np.count_nonzero(a == b)) / len(a)


class LshIndex:
    def __init__(self, num_perm: int, threshold: float, max_entries: int) -> None:
        self.threshold = threshold
        self.bands, self.rows = optimal_bands(threshold, num_perm)
        self.max_entries = max_entries
        self._signatures: OrderedDict[str, Signature] = OrderedDict()
        self._buckets: list[dict[bytes, set[str]]] = [{} for _ in range(self.bands)]

    def __len__(self) -> int:
        return len(self._signatures)

    def _keys(self, signature: Signature) -> list[bytes]:
        r = self.rows
        return [signature[i * r : (i + 1) * r].tobytes() for i in range(self.bands)]

    def query(self, signature: Signature) -> tuple[str, float] | None:
        """The most similar indexed key at or above the threshold, with its estimated similarity."""
        candidates: set[str] = set()
        for bucket, key in zip(self._buckets, self._keys(signature), strict=True):
            candidates.update(bucket.get(key, ()))
        best: tuple[str, float] | None = None
        for candidate in candidates:
            similarity = jaccard_estimate(signature, self._signatures[candidate])
            if similarity >= self.threshold and (best is None or similarity > best[1]):
                best = (candidate, similarity)
        return best

    def insert(self, key: str, signature: Signature) -> None:
        if key in self._signatures:
            return
        self._signatures[key] = signature
        for bucket, band_key in zip(self._buckets, self._keys(signature), strict=True):
            bucket.setdefault(band_key, set()).add(key)
        while len(self._signatures) > self.max_entries:
            self._evict()

    def _evict(self) -> None:
        key, signature = self._signatures.popitem(last=False)
        for bucket, band_key in zip(self._buckets, self._keys(signature), strict=True):
            members = bucket.get(band_key)
            if members is not None:
                members.discard(key)
                if not members:
                    del bucket[band_key]


class NearDeduplicator:
    """Drops (or marks, by policy) a record whose content is a near copy of one remembered before.

    ``process`` only checks; ``remember`` (called by ``DedupRecorder`` once the record is known to go
    out) adds it to the index. The signature is taken from the content as ``process`` first sees it
    (before anonymization changes it) and kept for ``remember``, for at most ``_PENDING`` records.
    """

    name = "near_dedup"

    def __init__(self, policy: NearDedupPolicy, hasher: MinHasher | None = None) -> None:
        self.policy = policy
        self.hasher = hasher or MinHasher(policy.num_perm, policy.shingle_words)
        self.index = LshIndex(policy.num_perm, policy.threshold, policy.max_entries)
        # record id -> signature (None: too short to compare) between `process` and `remember`
        self._pending: OrderedDict[str, Signature | None] = OrderedDict()

    def _signature(self, work: Work) -> Signature | None:
        key = work.record.id
        if key in self._pending:
            return self._pending[key]
        signature = None
        if len(_WORD.findall(work.content)) >= self.policy.min_words:
            signature = self.hasher.signature(work.content)
        self._pending[key] = signature
        while len(self._pending) > _PENDING:
            self._pending.popitem(last=False)
        return signature

    def process(self, work: Work) -> Outcome:
        signature = self._signature(work)
        if signature is None:
            return work
        match = self.index.query(signature)
        if match is None or match[0] == work.record.id:
            return work
        original, similarity = match
        if self.policy.action == "drop":
            return Dropped(work.record, "near_duplicate", f"~{similarity:.2f} similar to record {original}")
        work.metadata["near_duplicate_of"] = original
        return work

    def remember(self, work: Work) -> None:
        signature = self._pending.pop(work.record.id, None)
        if signature is not None and "near_duplicate_of" not in work.metadata:
            self.index.insert(work.record.id, signature)
