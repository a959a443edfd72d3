# One image for both processes: `python -m bot` (the default) and `python -m api`.
# Dependencies come from requirements.lock with their hashes; the project itself is installed
# without resolving anything again.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DATABASE_PATH=/data/bot.sqlite3 \
    MPLCONFIGDIR=/tmp/matplotlib

WORKDIR /app

# The lock first: this layer is rebuilt only when the dependencies change.
COPY requirements.lock ./
RUN pip install --require-hashes -r requirements.lock

COPY pyproject.toml README.md ./
COPY bot ./bot
COPY handlers ./handlers
COPY api ./api
COPY storage ./storage
RUN pip install --no-deps . \
    && groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid 10001 --home-dir /app --shell /usr/sbin/nologin app \
    && mkdir -p /data \
    && chown 10001:10001 /data

# Not root: the processes need nothing but the data volume.
USER 10001:10001
VOLUME ["/data"]
# 8000: the HTTP API; 8080: webhooks (PORT); 9100: the bot's /health and /metrics (BOT_HTTP_PORT).
EXPOSE 8000 8080 9100

# Each process answers /health; the compose file picks the right port per service.
CMD ["python", "-m", "bot"]
