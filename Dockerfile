# One image for every process of the Procfile (docker-compose.yml picks the command).
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY app ./app
COPY workers ./workers
COPY schemas ./schemas
COPY possim ./possim
COPY bin ./bin
COPY Procfile gunicorn.conf.py ./
RUN pip install . \
    && useradd --create-home --uid 10001 posbridge \
    && mkdir -p var \
    && chown posbridge var

USER posbridge
EXPOSE 8000 5555 9100 9808
CMD ["sh", "-c", "exec gunicorn app.wsgi:application --config gunicorn.conf.py"]
