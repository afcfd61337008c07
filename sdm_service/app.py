"""create_app(): the one place that wires settings, database, content, templates, security and routes."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from advanced_alchemy.extensions.litestar import SQLAlchemyPlugin
from babel import Locale
from jinja2 import Environment
from litestar import Litestar, Response, get
from litestar.config.csrf import CSRFConfig
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.logging.config import LoggingConfig
from litestar.openapi.config import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin, YamlRenderPlugin
from litestar.openapi.spec import Components
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.static_files import create_static_files_router
from litestar.status_codes import HTTP_200_OK, HTTP_503_SERVICE_UNAVAILABLE
from litestar.template.config import TemplateConfig
from opentelemetry.sdk.trace import TracerProvider
from sqlalchemy.ext.asyncio import AsyncEngine

from sdm_service import __version__, ratelimit
from sdm_service.api import fhir as fhir_api
from sdm_service.api import jwks as jwks_api
from sdm_service.api import smart as smart_api
from sdm_service.api import v1 as api_v1
from sdm_service.api.auth import SECURITY_SCHEME, SECURITY_SCHEME_NAME
from sdm_service.api.fhir import openapi as fhir_openapi
from sdm_service.api.fhir import tasks as fhir_tasks
from sdm_service.api.schemas import ClosedModelsSchemaPlugin
from sdm_service.content import ContentLibrary, load_library
from sdm_service.db import create_autocommit_engine, create_engine, database_is_reachable, sqlalchemy_config
from sdm_service.delivery.keys import load_signing_keys, public_jwks
from sdm_service.delivery.queue import DeliveryQueue
from sdm_service.i18n import Catalogs
from sdm_service.i18n import install as install_translations
from sdm_service.middleware import allow_header_hook, middleware_stack, security_headers_hook
from sdm_service.models import utcnow
from sdm_service.observability import health as health_checks
from sdm_service.observability import metrics, tracing
from sdm_service.observability.logs import RequestContextMiddleware, app_logging_config, request_log_hook
from sdm_service.paths import CSRF_EXEMPT_PATHS, HEALTH_PATH, STATIC_PREFIX
from sdm_service.refusal_audit import RefusalAuditMiddleware
from sdm_service.security import PasswordHashing
from sdm_service.services import users
from sdm_service.services.oidc import OidcProvider
from sdm_service.settings import Settings, get_settings
from sdm_service.smart.jwks import JwksCache
from sdm_service.smart.replay import replay_store_from_settings
from sdm_service.smart.tokens import SmartAuthority
from sdm_service.warmup import register_questionnaire_versions
from sdm_service.web import clinician, patient
from sdm_service.web.errors import html_exception_handlers

logger = logging.getLogger("sdm_service")

SIDE_POOL_SIZE = 5
SQLITE_SIDE_POOL_SIZE = 3


@get(HEALTH_PATH, tags=["operations"], cache=False)
async def health(side_engine: NamedDependency[AsyncEngine]) -> Response[dict[str, str]]:
    """Liveness and database readiness for load balancers and compose health checks."""
    if await database_is_reachable(side_engine):
        return Response({"status": "ok", "database": "ok", "version": __version__}, status_code=HTTP_200_OK)
    return Response(
        {"status": "unavailable", "database": "unreachable", "detail": "The database is not answering."},
        status_code=HTTP_503_SERVICE_UNAVAILABLE,
    )


def configure_templates(
    env: Environment, settings: Settings, library: ContentLibrary, catalogs: Catalogs
) -> None:
    """The Jinja environment every page renders in (also used by the bench's essential ceilings)."""
    install_translations(env, catalogs)
    # Clinician pages name each patient language in English ("Spanish").
    env.globals["language_names"] = {
        code: Locale.parse(code).get_display_name("en") for code in catalogs.languages
    }
    env.globals["clinic_name"] = settings.clinic_name
    env.globals["app_version"] = __version__
    env.globals["questionnaires"] = library
    env.globals["oidc_enabled"] = settings.oidc_enabled
    env.globals["local_login"] = settings.local_login
    env.autoescape = True
    env.trim_blocks = True
    env.lstrip_blocks = True
    # Outside development templates do not change while running: skip the stat of every
    # template file on every render.
    env.auto_reload = settings.env == "development"


def _template_engine(
    settings: Settings, library: ContentLibrary, catalogs: Catalogs
) -> TemplateConfig[JinjaTemplateEngine]:
    def configure(engine: JinjaTemplateEngine) -> None:
        configure_templates(engine.engine, settings, library, catalogs)

    return TemplateConfig(
        directory=settings.templates_dir, engine=JinjaTemplateEngine, engine_callback=configure
    )


def create_app(
    settings: Settings | None = None,
    *,
    clock: Callable[[], datetime] = utcnow,
    tracer_provider: TracerProvider | None = None,
) -> Litestar:
    """`clock` is the time SMART tokens and assertions are judged by (tests move it forward).
    `tracer_provider` turns tracing on with that provider (tests); otherwise tracing is on when
    OTEL_EXPORTER_OTLP_ENDPOINT is set (observability/tracing.py)."""
    settings = settings or get_settings()
    # Invalid content refuses to start, with every problem listed.
    library = load_library(settings.content_dir)
    catalogs = Catalogs()
    _check_catalogs(library, catalogs)
    # Two pools. Request sessions (one unit of work per request) use `engine`. Work that must commit
    # on its own while a request holds its connection (rate-limit hits, audit of refused requests,
    # session and token lookups, health) uses `side_engine`, so it can never wait on a connection
    # its own request is holding: under a burst of bad requests the request pool would deadlock.
    engine = create_engine(settings)
    # SQLite has one writer at a time: its writers queue in order at the driver's writer gate
    # (sqlite_driver.py), so a few side connections let the side reads (token and session lookups)
    # go on beside a write instead of queueing behind every rate-limit count.
    side_engine = create_engine(
        settings, pool_size=SQLITE_SIDE_POOL_SIZE if settings.is_sqlite else SIDE_POOL_SIZE
    )
    # Writes of one statement that commit by themselves: rate-limit counts, the audit event of a read.
    autocommit_engine = create_autocommit_engine(settings, side_engine)
    # Engines with a pool of their own (on PostgreSQL the autocommit engine shares the side pool).
    own_pools = [engine, side_engine] + (
        [autocommit_engine] if autocommit_engine.pool is not side_engine.pool else []
    )
    rate_limit_store = ratelimit.store_from_settings(settings, side_engine, autocommit_engine)
    own_tracer_provider = None if tracer_provider else tracing.tracer_provider_from_settings(settings)
    tracer_provider = tracer_provider or own_tracer_provider
    if tracer_provider is not None:
        tracing.instrument_engines(tracer_provider, own_pools)
    intake = library.get(settings.questionnaire_slug)  # the questionnaire the API's examples answer
    password_hashing = users.hashing_for(settings)
    replay_store = replay_store_from_settings(settings, side_engine)
    smart = SmartAuthority(
        token_url=settings.smart_token_url,
        token_seconds=settings.smart_token_seconds,
        replay=replay_store,
        jwks=JwksCache(production=settings.is_production, limits=rate_limit_store, clock=clock),
        clock=clock,
    )
    # Write-back to the EHR: our signing keys (published as our JWKS) and, only when an EHR is
    # configured, the queue that deliveries are handed to after the completing commit.
    our_jwks = public_jwks(load_signing_keys(settings.ehr_private_key_file))
    delivery_queue = DeliveryQueue(settings) if settings.ehr_enabled else None

    # Sign-in through the organisation's identity provider, when SDM_OIDC_ISSUER is set.
    oidc = OidcProvider(settings) if settings.oidc_enabled else None

    def provide_oidc() -> OidcProvider | None:
        return oidc

    def provide_settings() -> Settings:
        return settings

    def provide_side_engine() -> AsyncEngine:
        return side_engine

    def provide_autocommit_engine() -> AsyncEngine:
        return autocommit_engine

    def provide_rate_limits() -> ratelimit.RateLimitStore:
        return rate_limit_store

    def provide_password_hashing() -> PasswordHashing:
        return password_hashing

    def provide_library() -> ContentLibrary:
        return library

    def provide_smart() -> SmartAuthority:
        return smart

    def provide_our_jwks() -> dict[str, Any]:
        return our_jwks

    def provide_delivery_queue() -> DeliveryQueue | None:
        return delivery_queue

    # /health/ready: one entry per dependency; a part with its own (a delivery queue) appends one.
    readiness_checks = [health_checks.database_check(side_engine), health_checks.content_check(library)]
    if delivery_queue is not None:
        readiness_checks.append(health_checks.queue_check(delivery_queue.pending_jobs))

    def provide_readiness_checks() -> list[health_checks.ReadinessCheck]:
        return readiness_checks

    async def record_versions() -> None:
        await register_questionnaire_versions(engine, library)

    async def dispose_engine() -> None:
        if own_tracer_provider is not None:
            own_tracer_provider.shutdown()  # sends the spans still queued
        await rate_limit_store.close()
        await replay_store.close()
        for pooled in own_pools:
            await pooled.dispose()
        if oidc is not None:
            await oidc.aclose()

    app = Litestar(
        route_handlers=[
            health,
            *health_checks.routes,
            metrics.metrics_controller(settings, {"request": engine, "side": side_engine}),
            create_static_files_router(
                path=STATIC_PREFIX.rstrip("/"), directories=[settings.static_dir], name="static"
            ),
            *patient.routes,
            *clinician.routes,
            *api_v1.routes,
            *fhir_api.routes,
            *smart_api.routes,
            *jwks_api.routes,
        ],
        dependencies={
            "settings": Provide(provide_settings, sync_to_thread=False),
            "library": Provide(provide_library, sync_to_thread=False),
            "side_engine": Provide(provide_side_engine, sync_to_thread=False),
            "autocommit_engine": Provide(provide_autocommit_engine, sync_to_thread=False),
            "rate_limits": Provide(provide_rate_limits, sync_to_thread=False),
            "password_hashing": Provide(provide_password_hashing, sync_to_thread=False),
            "smart": Provide(provide_smart, sync_to_thread=False),
            "oidc": Provide(provide_oidc, sync_to_thread=False),
            "our_jwks": Provide(provide_our_jwks, sync_to_thread=False),
            "delivery_queue": Provide(provide_delivery_queue, sync_to_thread=False),
            "readiness_checks": Provide(provide_readiness_checks, sync_to_thread=False),
        },
        plugins=[
            SQLAlchemyPlugin(config=sqlalchemy_config(settings, engine)),
            ClosedModelsSchemaPlugin(languages=intake.languages),
            *([tracing.opentelemetry_plugin(tracer_provider)] if tracer_provider else []),
        ],
        template_config=_template_engine(settings, library, catalogs),
        csrf_config=CSRFConfig(
            secret=settings.secret_key.get_secret_value(),
            cookie_name=settings.cookies.csrf,
            cookie_secure=settings.secure_cookies,
            cookie_httponly=True,
            cookie_samesite="lax",
            exclude=CSRF_EXEMPT_PATHS,
        ),
        # Under /fhir even routing errors (404, 405) answer as OperationOutcome.
        exception_handlers=fhir_api.with_fhir_outcomes(html_exception_handlers()),
        openapi_config=OpenAPIConfig(
            title="sdm-service API",
            version=__version__,
            description="JSON API (v1) and FHIR R4 endpoints for EHR integration.",
            path="/schema",
            # Machine-readable only: browser renderers need a CDN and inline script, which the CSP forbids.
            render_plugins=[JsonRenderPlugin(), YamlRenderPlugin()],
            components=Components(
                security_schemes={SECURITY_SCHEME_NAME: SECURITY_SCHEME},
                examples={
                    fhir_openapi.CREATE_EXAMPLE: fhir_openapi.create_example(intake, settings.base_url),
                    fhir_tasks.TASK_EXAMPLE: fhir_tasks.task_example(intake, settings.base_url),
                },
            ),
        ),
        logging_config=LoggingConfig(
            **app_logging_config(settings.log_format_in_use),
            root={"level": settings.log_level, "handlers": ["queue_listener"]},
            loggers={"sdm_service": {"level": settings.log_level, "propagate": True}},
            log_exceptions="never",  # unexpected errors are logged once, by the 500 handler
        ),
        # For guards and middleware, which have no dependency injection; handlers use the dependencies.
        state=State(
            {
                "settings": settings,
                "library": library,
                "catalogs": catalogs,
                "side_engine": side_engine,
                "rate_limit_store": rate_limit_store,
                "smart": smart,
                "readiness_checks": readiness_checks,
            }
        ),
        on_startup=[record_versions],
        on_shutdown=[dispose_engine],
        middleware=[
            RequestContextMiddleware(),
            metrics.prometheus_config().middleware,
            RefusalAuditMiddleware(),
            *middleware_stack(settings),
        ],
        before_send=[
            request_log_hook(settings.access_log),
            security_headers_hook(settings),
            allow_header_hook(),
            *([tracing.name_span_after_route] if tracer_provider else []),
        ],
        # Backstop for any content type; BodySizeLimitMiddleware applies the per-type limits first.
        request_max_body_size=max(settings.max_form_body_bytes, settings.max_json_body_bytes),
        debug=False,
    )
    _startup_log(settings, library)
    return app


def _check_catalogs(library: ContentLibrary, catalogs: Catalogs) -> None:
    """Every language the content offers needs the interface text too."""
    for content in library.by_slug.values():
        missing = sorted(set(content.languages) - set(catalogs.languages))
        if missing:
            raise RuntimeError(f"{content.slug} offers {', '.join(missing)} but no interface catalog has it")


def _startup_log(settings: Settings, library: ContentLibrary) -> None:
    db = settings.database_url.split("://", 1)[0]
    logger.info(
        "sdm-service %s starting: env=%s database=%s questionnaires=%s",
        __version__,
        settings.env,
        db,
        ", ".join(f"{q.slug}@{q.version}" for q in library.questionnaires()),
    )
