"""Where progressive growing stands after a number of training images: (level, fade-in alpha).

The trainer counts steps globally and knows nothing about growing, so the PGGAN recipe derives
its resolution from the number of real images the discriminator has seen, as the original
implementation does with ``kimg`` (thousands of images). Training starts at level 0 (4 x 4) and
stays ``stable_kimg``; each further level first fades in over ``fade_kimg`` (alpha rising from 0
to 1) and is then trained ``stable_kimg``. After the last level the schedule stays there.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class GrowthSchedule:
    levels: int
    stable_kimg: float
    fade_kimg: float

    def __post_init__(self):
        if self.levels < 1:
            raise ValueError(f"a growth schedule needs at least one level, not {self.levels}")
        if self.stable_kimg < 0 or self.fade_kimg < 0:
            raise ValueError(f"stable_kimg and fade_kimg must not be negative "
                             f"(got {self.stable_kimg}, {self.fade_kimg})")

    def at(self, images_seen: int) -> tuple[int, float]:
        """(level, alpha) after ``images_seen`` real images; alpha is 1.0 outside fade-ins."""
        kimg = images_seen / 1000.0
        if kimg < self.stable_kimg or self.levels == 1:
            return 0, 1.0
        kimg -= self.stable_kimg
        per_level = self.fade_kimg + self.stable_kimg
        for level in range(1, self.levels):
            if kimg < self.fade_kimg:
                return level, kimg / self.fade_kimg
            if kimg < per_level or level == self.levels - 1:
                return level, 1.0
            kimg -= per_level
        return self.levels - 1, 1.0

    def kimg_to_full(self) -> float:
        """Thousands of images until the last level is faded in completely."""
        return self.stable_kimg + (self.levels - 1) * (self.fade_kimg + self.stable_kimg) - self.stable_kimg
