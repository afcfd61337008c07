"""Operations: structured logs with request ids, health checks, Prometheus metrics and traces.

Each part is wired in create_app() (sdm_service/app.py); nothing here holds module-level state
except the request id of the running request (a context variable) and prometheus_client's registry.
"""
