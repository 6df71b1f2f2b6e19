"""Nameko extensions of the reporting service: the projection watch's timer and settings."""

from __future__ import annotations

from nameko.extensions import DependencyProvider
from nameko.timer import Timer

from shared.errors import ConfigError

WATCH_SECONDS = 30.0
STALL_SECONDS = 300.0


def _seconds(config: dict, key: str, default: float) -> float:
    raw = config.get(key, default)
    try:
        value = float(raw)
    except (TypeError, ValueError):
        value = 0.0
    if not 0.1 <= value <= 86400:
        raise ConfigError(f"config key {key}: seconds between 0.1 and 86400", field=key)
    return value


class WatchTimer(Timer):
    """Fires every PROJECTION_WATCH_SECONDS (default 30), the first time at start."""

    def __init__(self, **kwargs):
        super().__init__(WATCH_SECONDS, eager=True, **kwargs)

    def setup(self):
        self.interval = _seconds(self.container.config, "PROJECTION_WATCH_SECONDS",
                                 WATCH_SECONDS)


watch_timer = WatchTimer.decorator

SNAPSHOT_SECONDS = 3600.0


class SnapshotTimer(Timer):
    """Fires every MONEV_SNAPSHOT_SECONDS (default 3600), the first time at start: the day's
    completeness snapshot per OPD is refreshed each time (usecases/completeness.py)."""

    def __init__(self, **kwargs):
        super().__init__(SNAPSHOT_SECONDS, eager=True, **kwargs)

    def setup(self):
        self.interval = _seconds(self.container.config, "MONEV_SNAPSHOT_SECONDS",
                                 SNAPSHOT_SECONDS)


snapshot_timer = SnapshotTimer.decorator


class ProjectionSettings(DependencyProvider):
    """`self.projection_settings.stall_seconds`: how long a read model may stand behind its
    source without moving before it is an alarm (PROJECTION_STALL_SECONDS, default 300)."""

    def setup(self):
        self.stall_seconds = _seconds(self.container.config, "PROJECTION_STALL_SECONDS",
                                      STALL_SECONDS)

    def get_dependency(self, worker_ctx):
        return self
