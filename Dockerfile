# Production image: the wheel (package, content, templates, static files and migrations inside it)
# installed over the hashed runtime lock, run by the same command as `make run` (uvicorn).
# No test, lint or benchmark tool and no source checkout end up in the final image.

# --- build: the wheel, from the source tree (setup.py copies the top-level folders into it) ---
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml setup.py MANIFEST.in README.md alembic.ini ./
COPY sdm_service ./sdm_service
COPY migrations ./migrations
COPY questionnaires ./questionnaires
COPY templates ./templates
COPY static ./static
RUN pip wheel --no-deps --wheel-dir /wheels .

# --- runtime ---
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1

# Dependencies first, so code changes do not reinstall them: exactly the runtime lock, every hash checked.
COPY requirements-pip.lock requirements.lock /tmp/
RUN pip install --require-hashes -r /tmp/requirements-pip.lock \
    && pip install --require-hashes -r /tmp/requirements.lock && rm /tmp/requirements*.lock

# The service itself, without resolving anything further.
COPY --from=build /wheels /tmp/wheels
RUN pip install --no-deps /tmp/wheels/*.whl && rm -rf /tmp/wheels && useradd --system --uid 10001 sdm

# JSON logs (one object per line) and the per-request line, for the hospital's log pipeline.
ENV SDM_ENV=production SDM_LOG_FORMAT=json SDM_ACCESS_LOG=true
WORKDIR /app
USER sdm
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --retries=3 \
  CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/health/ready').status != 200)"
CMD ["sdm", "run", "--host", "0.0.0.0", "--port", "8000", "--workers", "2"]
