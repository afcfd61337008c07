"""Keep patient link tokens and query strings out of the logs.

A `/i/<token>` or `/r/<token>` path is a key to one patient's answers, and query strings can carry
identifiers (`?patient=MRN-1`). Logs travel further than the database (shippers, support tickets),
so log lines show `/i/[link]` and the path without its query instead.
"""

from __future__ import annotations

import logging
import re
from typing import Any

MASK = "[link]"
# A link segment: /i/ or /r/ followed by the token, up to the next slash, query, space or quote.
_LINK_TOKEN = re.compile(r"(/[ir]/)[^/?#\s\"']+")
# A query string directly after a path (a "/..." run), so a question mark in prose is left alone.
_QUERY = re.compile(r"(/[^\s?#\"']*)\?[^\s#\"']*")


def mask_path(text: str) -> str:
    """`text` with link tokens masked and query strings after paths removed."""
    return _LINK_TOKEN.sub(rf"\1{MASK}", _QUERY.sub(r"\1", text))


def _masked(value: Any) -> Any:
    return mask_path(value) if isinstance(value, str) else value


class LinkTokenFilter(logging.Filter):
    """Masks link tokens and drops query strings in a record's message and string arguments.

    Argument shapes are kept (uvicorn's access formatter unpacks a 5-tuple), and only strings are
    changed, so %d and similar placeholders still format.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = mask_path(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_masked(value) for value in record.args)
        elif isinstance(record.args, dict):
            record.args = {key: _masked(value) for key, value in record.args.items()}
        return True


def install(*logger_names: str) -> None:
    """Attach the filter to these loggers and their handlers (a logger's own filters do not see
    records that propagate up from child loggers; its handlers' filters do)."""
    link_filter = LinkTokenFilter()
    for name in logger_names:
        target = logging.getLogger(name)
        if not any(isinstance(existing, LinkTokenFilter) for existing in target.filters):
            target.addFilter(link_filter)
        for handler in target.handlers:
            if not any(isinstance(existing, LinkTokenFilter) for existing in handler.filters):
                handler.addFilter(link_filter)
