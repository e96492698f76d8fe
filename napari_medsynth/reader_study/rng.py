"""A seeded random generator that cannot be predicted from its outputs.

Stimulus ids are random numbers drawn in the order the images were selected. With an ordinary
Mersenne Twister a curious reader who sees enough ids could in principle recover its state and
replay the draw, learning which ids were drawn first (e.g. the real images). SHA-256 in counter
mode, keyed by a secret seed, gives the same reproducibility as a seeded generator without that
back door: without the seed the ids reveal nothing about the order they were drawn in.
"""

from __future__ import annotations

import hashlib
import random


class HashRandom(random.Random):
    """``random.Random`` whose bits come from SHA-256(key || counter); ``shuffle``/``sample`` work as usual."""

    def __init__(self, seed: int | str | bytes):
        self._key = seed if isinstance(seed, bytes) else str(seed).encode()
        self._counter = 0
        self._buffer = b""
        super().__init__(0)  # Random.__init__ calls seed(), which is a no-op here

    def seed(self, *args, **kwargs) -> None:  # the key is fixed at construction
        pass

    def getrandbits(self, k: int) -> int:
        if k <= 0:
            return 0
        nbytes = (k + 7) // 8
        while len(self._buffer) < nbytes:
            block = hashlib.sha256(self._key + self._counter.to_bytes(8, "big")).digest()
            self._buffer += block
            self._counter += 1
        chunk, self._buffer = self._buffer[:nbytes], self._buffer[nbytes:]
        return int.from_bytes(chunk, "big") >> (nbytes * 8 - k)

    def random(self) -> float:
        return self.getrandbits(53) / float(1 << 53)

    def getstate(self):  # pragma: no cover - the state is the secret; do not hand it out
        raise NotImplementedError("HashRandom has no shareable state")

    def setstate(self, state):  # pragma: no cover
        raise NotImplementedError("HashRandom has no shareable state")
