"""BERT-style masked-LM masking of fixed-length token windows (pure numpy).

The Transform stage emits, per document, a flat ``features.PACKED_IDS`` list made
of consecutive ``seq_length`` windows ``[CLS] ... [SEP] [PAD]...``.
:func:`split_windows` cuts it back into windows and :func:`mask_window` turns one
window into one masked-LM training example, as in the BERT paper: about
``mask_rate`` of the non-reserved positions are selected for prediction; of those
80% become ``[MASK]``, 10% a random non-reserved id and 10% stay unchanged.

:func:`mask_windows` applies the same rules to all windows of a document at once (the
masker's path; whole-word masking goes window by window). Randomness comes from
:func:`rng_for`, a generator seeded from a sha256 of (seed, key, dupe), the key being the
document's (or window's) ids, so the same input always gets the same masking no matter how
Beam orders or distributes the work.

Example:

>>> import numpy as np
>>> from models.core import features
>>> packed = np.array([2, 10, 11, 12, 13, 3, 0, 0,   2, 20, 21, 3, 0, 0, 0, 0])
>>> windows = split_windows(packed, seq_length=8)
>>> windows.shape
(2, 8)
>>> out = mask_window(windows[0], rng_for(42, b"doc-0", 0), vocab_size=100,
...                   mask_rate=0.15, max_predictions=4)
>>> sorted(out) == sorted([features.TOKEN_IDS, features.PADDING_MASK,
...     features.MASK_POSITIONS, features.MASK_IDS, features.MASK_WEIGHTS])
True
>>> out[features.PADDING_MASK].tolist()
[1, 1, 1, 1, 1, 1, 0, 0]
>>> n = int(out[features.MASK_WEIGHTS].sum())   # max(1, round(4 * 0.15)) == 1
>>> n
1
>>> pos = int(out[features.MASK_POSITIONS][0])
>>> 1 <= pos <= 4 and int(out[features.MASK_IDS][0]) == int(windows[0][pos])
True
>>> mask_window(np.array([2, 3, 0, 0]), rng_for(42, b"x", 0), vocab_size=100) is None
True
"""

from __future__ import annotations

import hashlib
import struct
from typing import Dict, Optional

import numpy as np

from models.core import features
from models.tokenizers.wordpiece import SpecialIds

NUM_RESERVED = len(features.RESERVED_TOKENS)
LMPIPE_SPECIAL = SpecialIds(*range(NUM_RESERVED))  # where lmpipe's own vocabularies put them

# Shares of the selected positions (cumulative thresholds on a uniform draw).
MASK_TOKEN_SHARE = 0.8
RANDOM_TOKEN_SHARE = 0.1  # the remaining 0.1 keeps the original id


def rng_for(seed: int, key: bytes, dupe: int) -> np.random.Generator:
    """Returns a numpy Generator determined only by ``(seed, key, dupe)``.

    The generator is seeded from ``sha256(seed || len(key) || key || dupe)``,
    so it is independent of process, worker, hash randomization and Beam ordering.

    Args:
      seed: the pipeline-level seed.
      key: bytes identifying the unit being masked (e.g. window bytes + index).
      dupe: which of the ``dupe_factor`` maskings of that unit.
    """
    if isinstance(key, str):
        key = key.encode("utf-8")
    h = hashlib.sha256()
    h.update(struct.pack("<q", int(seed)))
    h.update(struct.pack("<Q", len(key)))
    h.update(bytes(key))
    h.update(struct.pack("<q", int(dupe)))
    return np.random.default_rng(int.from_bytes(h.digest(), "little"))


def split_windows(packed_ids, seq_length: int) -> np.ndarray:
    """Splits a flat ``PACKED_IDS`` list into an int64 array ``[num_windows, seq_length]``.

    Raises:
      ValueError: if ``seq_length`` is not positive or the length of
        ``packed_ids`` is not a multiple of it.
    """
    ids = np.asarray(packed_ids, dtype=np.int64).reshape(-1)
    if seq_length <= 0:
        raise ValueError(f"seq_length must be positive, got {seq_length}")
    if ids.size % seq_length:
        raise ValueError(
            f"{features.PACKED_IDS} has length {ids.size}, which is not a multiple "
            f"of seq_length={seq_length}")
    return ids.reshape(-1, seq_length)


def _whole_words(original: np.ndarray, candidates: np.ndarray, continuation: np.ndarray,
                 num_to_predict: int, max_predictions: int, rng: np.random.Generator) -> np.ndarray:
    """Sorted positions of randomly chosen whole words, about `num_to_predict` of them."""
    words = []
    for position in candidates:
        extends = (words and continuation[original[position]]
                   and words[-1][-1] == position - 1)
        if extends:
            words[-1].append(position)
        else:
            words.append([position])
    chosen = []
    for index in rng.permutation(len(words)):
        word = words[index]
        if chosen and len(chosen) + len(word) > num_to_predict:
            continue
        chosen.extend(word[:max_predictions - len(chosen)])
        if len(chosen) >= num_to_predict:
            break
    return np.sort(np.array(chosen, dtype=np.int64))


def _check_sizes(vocab_size: int, max_predictions: int) -> None:
    if vocab_size <= NUM_RESERVED:
        raise ValueError(
            f"vocab_size={vocab_size} must be larger than the {NUM_RESERVED} reserved ids")
    if max_predictions < 1:
        raise ValueError(f"max_predictions must be >= 1, got {max_predictions}")


def _random_ids(rng: np.random.Generator, vocab_size: int, special: SpecialIds, size):
    """Uniform draws among the vocabulary's ids that are not special."""
    random_ids = rng.integers(0, vocab_size - NUM_RESERVED, size=size)
    for skipped in sorted(special.ids):
        random_ids += random_ids >= skipped
    return random_ids


def mask_window(token_ids: np.ndarray,
                rng: np.random.Generator,
                vocab_size: int,
                mask_rate: float = 0.15,
                max_predictions: int = 20,
                special: SpecialIds = LMPIPE_SPECIAL,
                continuation: Optional[np.ndarray] = None) -> Optional[Dict[str, np.ndarray]]:
    """Masks one window for masked-LM training.

    Candidates are the positions whose id is not a special token (PAD/UNK/CLS/SEP/MASK,
    wherever the vocabulary puts them: ``special``).
    ``num_to_predict = min(max_predictions, max(1, round(len(candidates) * mask_rate)))``
    (Python ``round``, i.e. half to even) candidate positions are chosen uniformly
    without replacement; each is replaced by ``[MASK]`` with probability 0.8, by a
    uniform random id among the vocabulary's other ids with probability 0.1 (which
    may coincide with the original id), and kept with probability 0.1. Every window with a
    candidate gets at least one position to predict.

    Whole-word masking (``continuation``: a bool per vocabulary id, True for ``##`` pieces):
    words (a piece and the ``##`` pieces after it) are chosen instead of positions, in random
    order, each only if it still fits in ``num_to_predict`` (as Google's BERT does); the first
    word chosen always counts, so no window is left with nothing to predict.

    Args:
      token_ids: int array ``[seq_length]``.
      rng: a generator, normally from :func:`rng_for`.
      vocab_size: size of the vocabulary (must exceed the reserved ids).
      mask_rate: fraction of candidates to predict.
      max_predictions: the fixed length of the prediction features.

    Returns:
      ``None`` when the window has no candidate position, otherwise a dict with
      ``features.TOKEN_IDS`` (int64 ``[seq_length]``, masked),
      ``features.PADDING_MASK`` (int64 ``[seq_length]``, 1 where id != PAD_ID),
      ``features.MASK_POSITIONS`` (int64 ``[max_predictions]``, sorted, 0-padded),
      ``features.MASK_IDS`` (int64 ``[max_predictions]``, original ids, 0-padded),
      ``features.MASK_WEIGHTS`` (float32 ``[max_predictions]``, 1.0 real, 0.0 pad).
    """
    _check_sizes(vocab_size, max_predictions)
    original = np.asarray(token_ids, dtype=np.int64).reshape(-1)
    candidates = np.flatnonzero(~np.isin(original, special.ids))
    if candidates.size == 0:
        return None

    num_to_predict = min(max_predictions,
                         max(1, int(round(candidates.size * mask_rate))))
    if continuation is None:
        positions = np.sort(rng.choice(candidates, size=num_to_predict, replace=False))
    else:
        positions = _whole_words(original, candidates, continuation, num_to_predict,
                                 max_predictions, rng)
        num_to_predict = positions.size

    masked = original.copy()
    action = rng.random(num_to_predict)
    random_ids = _random_ids(rng, vocab_size, special, num_to_predict)
    to_mask = action < MASK_TOKEN_SHARE
    to_random = (~to_mask) & (action < MASK_TOKEN_SHARE + RANDOM_TOKEN_SHARE)
    masked[positions[to_mask]] = special.mask
    masked[positions[to_random]] = random_ids[to_random]

    mask_positions = np.zeros(max_predictions, dtype=np.int64)
    mask_ids = np.zeros(max_predictions, dtype=np.int64)
    mask_weights = np.zeros(max_predictions, dtype=np.float32)
    mask_positions[:num_to_predict] = positions
    mask_ids[:num_to_predict] = original[positions]
    mask_weights[:num_to_predict] = 1.0

    return {
        features.TOKEN_IDS: masked,
        features.PADDING_MASK: (original != special.pad).astype(np.int64),
        features.MASK_POSITIONS: mask_positions,
        features.MASK_IDS: mask_ids,
        features.MASK_WEIGHTS: mask_weights,
    }


def mask_windows(windows: np.ndarray,
                 rng: np.random.Generator,
                 vocab_size: int,
                 mask_rate: float = 0.15,
                 max_predictions: int = 20,
                 special: SpecialIds = LMPIPE_SPECIAL) -> Dict[str, np.ndarray]:
    """:func:`mask_window`'s rules for a stack of windows at once (numpy over the whole
    stack, one generator for all of it: the masker's hot path).

    The same number of predictions per window, the same uniform choice of positions (the
    `num_to_predict` candidates with the smallest uniform keys), the same 80/10/10 shares;
    only the random draws differ from masking each window with a generator of its own.

    Args:
      windows: int array ``[num_windows, seq_length]``.

    Returns:
      the :func:`mask_window` features as ``[kept, ...]`` arrays, for the windows with a
      candidate position (in order; windows without one are left out).

    >>> out = mask_windows(np.array([[2, 10, 11, 3], [2, 3, 0, 0]]), rng_for(1, b"d", 0),
    ...                    vocab_size=100, max_predictions=2)
    >>> out[features.MASK_POSITIONS].shape, out[features.MASK_WEIGHTS].tolist()
    ((1, 2), [[1.0, 0.0]])
    """
    _check_sizes(vocab_size, max_predictions)
    original = np.asarray(windows, dtype=np.int64)
    is_candidate = ~np.isin(original, special.ids)
    maskable = is_candidate.any(1)
    original, is_candidate = original[maskable], is_candidate[maskable]
    rows, seq_length = original.shape
    num_to_predict = np.minimum(max_predictions, np.maximum(
        1, np.round(is_candidate.sum(1) * mask_rate).astype(np.int64)))

    slots = min(max_predictions, seq_length)
    keys = np.where(is_candidate, rng.random(original.shape), 2.0)
    chosen = np.argsort(keys, axis=1, kind="stable")[:, :slots]
    real = np.arange(slots) < num_to_predict[:, None]
    positions = np.sort(np.where(real, chosen, seq_length), axis=1)  # padding sorts last
    positions = np.where(real, positions, 0)

    action = rng.random((rows, slots))
    random_ids = _random_ids(rng, vocab_size, special, (rows, slots))
    to_mask = real & (action < MASK_TOKEN_SHARE)
    to_random = real & ~to_mask & (action < MASK_TOKEN_SHARE + RANDOM_TOKEN_SHARE)
    row_of = np.broadcast_to(np.arange(rows)[:, None], (rows, slots))
    masked = original.copy()
    masked[row_of[to_mask], positions[to_mask]] = special.mask
    masked[row_of[to_random], positions[to_random]] = random_ids[to_random]

    def padded(values, dtype):
        out = np.zeros((rows, max_predictions), dtype=dtype)
        out[:, :slots] = values
        return out

    return {
        features.TOKEN_IDS: masked,
        features.PADDING_MASK: (original != special.pad).astype(np.int64),
        features.MASK_POSITIONS: padded(positions, np.int64),
        features.MASK_IDS: padded(np.where(real, np.take_along_axis(original, positions, 1), 0),
                                  np.int64),
        features.MASK_WEIGHTS: padded(real, np.float32),
    }
