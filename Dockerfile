# One image for every casework service; docker-compose.yml picks the service per container.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    CASEWORK_HTTP_HOST=0.0.0.0
WORKDIR /app

COPY requirements.lock ./
RUN pip install --no-deps -r requirements.lock

COPY pyproject.toml README.md ./
COPY shared ./shared
COPY services ./services
COPY casework ./casework
RUN pip install --no-deps . && useradd --system --home /app casework && \
    mkdir -p /app/.local/outbox /app/.local/vault-reader && chown -R casework /app/.local
USER casework

CMD ["casework", "--help"]
