# One image for every process of the Procfile (docker-compose.yml picks the command).
# The base image is pinned to an exact version; dependencies install from requirements.lock with
# their hashes checked, then the project itself without dependencies.
FROM python:3.11.11-slim-bookworm

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY requirements.lock ./
RUN pip install --require-hashes -r requirements.lock
COPY pyproject.toml README.md ./
COPY app ./app
COPY workers ./workers
COPY schemas ./schemas
COPY possim ./possim
COPY bin ./bin
COPY Procfile gunicorn.conf.py ./
# --no-build-isolation: the project builds with the setuptools the lock pinned (hash-checked above),
# not whatever setuptools an isolated build would download
RUN pip install --no-deps --no-build-isolation . \
    && useradd --create-home --uid 10001 posbridge \
    && mkdir -p var \
    && chown posbridge var

USER posbridge
EXPOSE 8000 5555 5556 9100 9808
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=5 CMD ["python", "-m", "bin.healthcheck", "web"]
CMD ["sh", "-c", "exec gunicorn app.wsgi:application --config gunicorn.conf.py"]
