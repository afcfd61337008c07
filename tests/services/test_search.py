"""The response search helpers shared by the JSON API and FHIR: cursors and identifier tokens."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from sdm_service.services.search import Cursor, SearchError, decode_cursor, encode_cursor, parse_identifier

NOW = datetime(2026, 11, 22, 9, 30, tzinfo=UTC)


def test_cursors_round_trip_and_reject_tampering() -> None:
    cursor = Cursor(updated_at=NOW, id=uuid.uuid4())
    assert decode_cursor(encode_cursor(cursor)) == cursor
    for bad in ("", "x" * 300, "!!!", "bnVsbA", encode_cursor(cursor)[:-3]):
        with pytest.raises(SearchError):
            decode_cursor(bad)


def test_identifier_tokens_follow_fhir() -> None:
    assert parse_identifier("urn:x|42") == ("urn:x", "42")
    assert parse_identifier("42") == (None, "42")
    assert parse_identifier("|42") == ("", "42")
    assert parse_identifier("urn:x|") == ("urn:x", None)
    for bad in ("", "|", "a|b|c"):
        with pytest.raises(SearchError):
            parse_identifier(bad)
