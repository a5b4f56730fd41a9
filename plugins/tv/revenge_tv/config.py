"""``plugins.tv``: how the TV plugin ingests and matches."""

from __future__ import annotations

import attrs

from revenge_hookspecs.config import ConfigError
from revenge_hookspecs.media import AUTO_MATCH_THRESHOLD


@attrs.define
class TvConfig:
    """``plugins.tv``.

    :param match_threshold: a provider's best candidate scoring at least this (0..1) is applied
        without asking; below it the series waits for review (``needs_review``).
    :param probe_timeout: seconds probing one file may take before it counts as failed.
    """

    match_threshold: float = AUTO_MATCH_THRESHOLD
    probe_timeout: float = 30.0

    def validate(self) -> None:
        if not 0 < self.match_threshold <= 1:
            raise ConfigError("match_threshold", f"must be above 0 and at most 1, got {self.match_threshold}")
        if not 0 < self.probe_timeout <= 600:
            raise ConfigError("probe_timeout", f"must be between 0 and 600 seconds, got {self.probe_timeout}")
