"""Word shingles: the signature a document is indexed and compared by.

A shingle is a run of `SHINGLE_SIZE` consecutive words of the normalised text (see
`worker.dedup.text.dedup_text`), hashed to a signed 64-bit integer so that it fits a
PostgreSQL ``BIGINT``. Each document keeps the set of its shingle hashes.

* **k = 4.** Chosen by `bench/dedup_eval.py` at the duplicate threshold of 0.70: 3-word
  shingles drop more different stories (false-drop rate 0.40% against 0.27%), because
  stories on one topic share stock 3-word phrases; 5-word shingles miss more retellings
  (recall 0.957 against 0.970), because each small edit breaks five shingles. (Figures
  before sampling; `docs/dedup.md` has the sweep with it.)
* **Stoplist.** Shingles that come from boilerplate no outlet's story is about (credit
  lines, newsletter prompts, stock attributions) are never emitted: `STOP_PHRASES` are
  shingled the same way and their shingles form `STOP_SHINGLES`.
* **Short texts.** A text of fewer than k words gets one shingle: the hash of all its
  words. It can then only match a text that is exactly as short and the same, and the
  near-duplicate layer's minimum shared count (`decide.MIN_SHARED`) keeps it from ever
  being dropped on that alone: short texts are de-duplicated by GUID, URL and content hash.
* **Sampling.** `sample` keeps the shingles whose hash is a multiple of `SAMPLE_MODULUS`
  (about half of them), and only those are indexed and compared (`fingerprint` applies
  it). Both sides of every comparison are sampled the same way, so the shared count and
  containment are estimates over the same half of the shingles: a copy keeps exactly the
  sampled shingles its source has. It halves the index rows each story writes, the
  largest cost of storing one. The minimum shared counts in `decide` count sampled
  shingles. A text none of whose shingles is sampled keeps its smallest one, so it
  still has a signature (and, like a short text, can never be dropped by the near layer).
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable
from itertools import accumulate

__all__ = [
    "SAMPLE_MODULUS",
    "SHINGLE_SIZE",
    "STOP_PHRASES",
    "STOP_SHINGLES",
    "hash_words",
    "sample",
    "shingles",
]

SHINGLE_SIZE = 4
"""Words per shingle."""

SAMPLE_MODULUS = 2
"""`sample` keeps the shingles whose hash is a multiple of this (1 keeps them all)."""

STOP_PHRASES: tuple[str, ...] = (
    "reporting by and editing by",
    "additional reporting by",
    "writing by editing by",
    "sign up for our newsletter",
    "sign up here to get",
    "subscribe to our newsletter",
    "for more news visit",
    "our standards the thomson reuters trust principles",
    "all rights reserved",
    "click here to read more",
    "this article was originally published",
    "according to people familiar with the matter",
    "people familiar with the matter said",
    "who asked not to be identified",
    "did not immediately respond to a request for comment",
    "did not respond to a request for comment",
    "declined to comment",
    "said in a statement on",
    "told reporters on",
    "the white house said",
    "the united states of america",
    "by the authority vested in me as president by the constitution and the laws of the "
    "united states of america",
    "it is hereby ordered as follows",
)
"""Phrases whose shingles are never indexed: boilerplate and stock attributions."""


_blake2b = hashlib.blake2b


def hash_words(words: Iterable[str]) -> int:
    """Hash a run of words to a signed 64-bit integer (stable across runs and machines)."""
    digest = hashlib.blake2b(" ".join(words).encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _raw_shingles(words: list[str], k: int) -> set[int]:
    """Every k-word shingle hash of `words`, or one hash of all of them when fewer than k.

    The hash of each shingle is `hash_words` of its words, taken from one encoded copy of
    the text: a slice of bytes per shingle, and one unpacking of all the digests.
    """
    if not words:
        return set()
    if len(words) < k:
        return {hash_words(words)}
    data = " ".join(words).encode("utf-8")
    starts = [0, *accumulate(len(word) + 1 for word in data.split(b" "))]  # of each word
    digests = b"".join(
        [
            _blake2b(data[start : end - 1], digest_size=8).digest()
            for start, end in zip(starts, starts[k:], strict=False)
        ]
    )
    return set(struct.unpack(f">{len(digests) // 8}q", digests))


def _stop_shingles(k: int) -> frozenset[int]:
    """The shingles of every stop phrase longer than k words."""
    stop: set[int] = set()
    for phrase in STOP_PHRASES:
        words = phrase.split()
        if len(words) >= k:
            stop |= _raw_shingles(words, k)
    return frozenset(stop)


STOP_SHINGLES: frozenset[int] = _stop_shingles(SHINGLE_SIZE)
"""Hashes of the boilerplate shingles that `shingles` leaves out."""


def shingles(text: str, k: int = SHINGLE_SIZE) -> frozenset[int]:
    """The shingle hashes of normalised `text` (k words each), boilerplate shingles left out."""
    words = text.split()
    raw = _raw_shingles(words, k)
    stop = STOP_SHINGLES if k == SHINGLE_SIZE else _stop_shingles(k)
    kept = raw - stop
    # A text made only of boilerplate still needs a signature: fall back to all its words.
    return frozenset(kept) if kept or not words else frozenset({hash_words(words)})


def sample(signature: frozenset[int], modulus: int = SAMPLE_MODULUS) -> frozenset[int]:
    """The shingles of `signature` whose hash is a multiple of `modulus`.

    The choice depends on the hash alone, so two texts keep the same sample of the
    shingles they share. When none qualifies, the smallest hash is kept.
    """
    if modulus <= 1 or not signature:
        return signature
    kept = frozenset(h for h in signature if h % modulus == 0)
    return kept or frozenset({min(signature)})
