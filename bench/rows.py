"""The rows of `make bench`: their targets, how a row's figures and verdict are kept, and the A/B
pair of request files that measures one."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import flows
from bench.loadgen import REPLAY_SCRIPT, WrkResult
from bench.seed import SeedResult

PROXY = flows.PROXY_HEADERS
WORKLIST_RATIO_MAX = 1.5
# A stored PDF is read back, never rendered. Rendering per request could reach at most the PDF row's
# renders/s over the JSON GET's req/s (about 0.002 here: 2-12 renders/s against 1,500-7,000 req/s);
# a stored PDF's GET costs what any audited API read costs (the FHIR read row: about 0.02).
STORED_PDF_RATIO_MIN = 0.5  # issue 21: against its essential work (the JSON GET: reference only)
RSS_LIMIT_MB = 200.0
# Issue 21: each row against its essential-work ceiling (bench/essential.py).
ESSENTIAL_TARGET = 0.5
PDF_PER_PAGE_TARGET = 0.7
PDF_PEER_TARGET = 10.0  # our renders/s over WeasyPrint's, same summary
REFERENCE = "ref"  # a bare-framework row: printed for reference, no target


def summarise(results: list[WrkResult]) -> dict[str, Any]:
    return {
        "rps": round(statistics.median(r.rps for r in results), 1),
        "p50_ms": round(statistics.median(r.p50_ms for r in results), 2),
        "p95_ms": round(statistics.median(r.p95_ms for r in results), 2),
        "p99_ms": round(statistics.median(r.p99_ms for r in results), 2),
        "errors": sum(r.error_count for r in results),
        "requests": sum(r.requests for r in results),
        "rounds_rps": [round(r.rps, 1) for r in results],
    }


@dataclass
class Row:
    key: str
    title: str
    service_label: str
    ceiling_label: str
    metric: str  # "rps" (higher is better) or "p95_ms" (lower is better)
    target: float
    comparison: str  # ">=" ratio at least target; "<=" at most
    unit: str = "req/s"
    service: dict[str, Any] | None = None
    ceiling: dict[str, Any] | None = None
    error: str | None = None
    note: str = ""

    round_ratios: list[float] = field(default_factory=list)

    @property
    def ratio(self) -> float | None:
        """Median of the per-round ratios: each round's two runs are adjacent in time, so a
        machine that slows down or speeds up between rounds moves both sides together."""
        if self.round_ratios:
            return round(statistics.median(self.round_ratios), 3)
        if not self.service or not self.ceiling:
            return None
        a, b = self.service[self.metric], self.ceiling[self.metric]
        return round(a / b, 3) if b else None

    @property
    def passed(self) -> bool:
        ratio = self.ratio
        if ratio is None or self.error:
            return False
        if self.comparison == REFERENCE:
            return True
        if (self.service or {}).get("errors") or (self.ceiling or {}).get("errors"):
            return False
        return ratio >= self.target if self.comparison == ">=" else ratio <= self.target

    def as_dict(self) -> dict[str, Any]:
        return {
            "row": self.title,
            "key": self.key,
            "metric": self.metric,
            "unit": self.unit,
            "service_label": self.service_label,
            "ceiling_label": self.ceiling_label,
            "service": self.service,
            "ceiling": self.ceiling,
            "ratio": self.ratio,
            "round_ratios": self.round_ratios,
            "target": REFERENCE if self.comparison == REFERENCE else f"{self.comparison} {self.target}",
            "pass": self.passed,
            "error": self.error,
            "note": self.note,
        }


@dataclass
class Pair:
    """Two request files measured against each other, A/B interleaved."""

    row: Row
    a_url: str
    a_file: Path
    b_url: str
    b_file: Path
    a_results: list[WrkResult] = field(default_factory=list)
    b_results: list[WrkResult] = field(default_factory=list)
    script: Path = REPLAY_SCRIPT
    threads: int | None = None  # None: the --threads option
    before_a: Callable[[], None] | None = None  # refresh side A's request file before each run
    before_b: Callable[[], None] | None = None


@dataclass(frozen=True)
class DataSets:
    label: str  # "sqlite" | "postgresql"
    large_url: str
    small_url: str
    large: SeedResult
    small: SeedResult


def log(message: str) -> None:
    print(f"bench {time.strftime('%H:%M:%S')} {message}", flush=True)
