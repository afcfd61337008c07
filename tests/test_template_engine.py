"""Templates are compiled once outside development (no file check on every render)."""

from __future__ import annotations

from litestar import Litestar

from sdm_service.app import create_app
from tests.conftest import make_settings


async def test_templates_are_not_rechecked_outside_development(app: Litestar) -> None:
    assert app.state.settings.env != "development"
    assert app.template_engine is not None
    assert app.template_engine.engine.auto_reload is False  # type: ignore[attr-defined]


async def test_development_reloads_edited_templates(sqlite_url: str) -> None:
    app = create_app(make_settings(sqlite_url, env="development"))
    assert app.template_engine.engine.auto_reload is True  # type: ignore[union-attr]
