"""JSON API v1 for integration clients."""

from __future__ import annotations

from typing import Any

routes: list[Any] = []
