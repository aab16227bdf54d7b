"""Pure surge detection: seasonal baselines, overdispersed significance and the alert lifecycle."""

from streams.detect.baseline import Baseline, baseline
from streams.detect.config import (
    DetectConfig,
    DetectConfigError,
    Thresholds,
    border_key,
    crossing_key,
    load_config,
    parse_config,
)
from streams.detect.detector import AlertTransition, Snapshot, SubjectDetector, alert_id
from streams.detect.history import BucketHistory
from streams.detect.lifecycle import Severity, State, Status

__all__ = [
    "AlertTransition",
    "Baseline",
    "BucketHistory",
    "DetectConfig",
    "DetectConfigError",
    "Severity",
    "Snapshot",
    "State",
    "Status",
    "SubjectDetector",
    "Thresholds",
    "alert_id",
    "baseline",
    "border_key",
    "crossing_key",
    "load_config",
    "parse_config",
]
