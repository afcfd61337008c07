"""Pure decision logic: answers to priorities, conflict score and discussion points (no I/O)."""

from sdm_service.decision.engine import build_summaries, build_summary

__all__ = ["build_summaries", "build_summary"]
