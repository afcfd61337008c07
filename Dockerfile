# Production image: the same server `make run` uses (uvicorn), with the pinned dependency set.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app

# Dependencies first, so code changes do not reinstall them.
COPY requirements.lock ./
RUN pip install -r requirements.lock

# The app runs from /app (content, templates, static files and migrations live beside the package).
COPY pyproject.toml README.md alembic.ini ./
COPY sdm_service ./sdm_service
COPY migrations ./migrations
COPY questionnaires ./questionnaires
COPY templates ./templates
COPY static ./static
RUN pip install --no-deps -e . && useradd --system --uid 10001 sdm

ENV SDM_ENV=production
USER sdm
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --retries=3 \
  CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/health').status != 200)"
CMD ["sdm", "run", "--host", "0.0.0.0", "--port", "8000", "--workers", "2"]
