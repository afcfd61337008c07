"""Builders of realistic test data, shared by the test packages."""

from __future__ import annotations

from typing import Any

from sdm_service.decision.snapshot import SummarySnapshot
from sdm_service.report.sample import example_snapshot


def sample_snapshot(**overrides: Any) -> SummarySnapshot:
    """A complete summary snapshot (the `sdm sample-pdf` example); keywords replace top-level fields."""
    return example_snapshot(**overrides)
