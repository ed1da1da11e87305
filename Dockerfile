# One image for every Frontline service: docker-compose.yml gives each its command
# (frontline migrate | ingest-api | read-api, rq worker). No secret is baked in: API keys and
# database passwords come from the environment when a container starts, and .dockerignore keeps
# .env and local databases out of the build context.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_TIMEOUT=60 \
    PIP_RETRIES=10 \
    HOST=0.0.0.0 \
    CACHE_DIR=/app/var/cache \
    LOG_FORMAT=json

WORKDIR /app

# PIP_TIMEOUT and PIP_RETRIES (pip's defaults: 15 s, 5 retries): the step below once failed on a
# busy machine and passed as it was run again by hand, most likely one slow download.
# The dependencies in a layer of their own, rebuilt only when pyproject.toml changes (README.md,
# which the package's metadata reads, comes later: an edit of it must not download them again).
COPY pyproject.toml ./
RUN python -c "import subprocess, sys, tomllib; \
deps = tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']; \
subprocess.check_call([sys.executable, '-m', 'pip', 'install', *deps])"

COPY README.md alembic.ini ./
COPY migrations ./migrations
COPY services ./services
# Editable, so that the package stays beside alembic.ini and migrations/, where
# services/store/migrations.py looks for them. The gazetteer cache of the default countries is
# built now rather than by every container at its first start.
RUN pip install --no-deps --editable . \
 && python -c "from pathlib import Path; from services.gazetteer import load; load(['IQ', 'SY'], Path('/app/var/cache'))" \
 && useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin frontline \
 && chown -R frontline /app/var

USER frontline
EXPOSE 8000 8001
CMD ["frontline", "--help"]
