"""Questionnaire, evidence and rules content: schema, loading and validation."""

from sdm_service.content.loader import (
    Content,
    ContentError,
    ContentLibrary,
    Problem,
    load_content,
    load_library,
)

__all__ = ["Content", "ContentError", "ContentLibrary", "Problem", "load_content", "load_library"]
