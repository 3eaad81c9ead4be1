# Tracker: a multi-stage image. The dependencies come from requirements.lock in their own
# cached layer; the service runs as a non-root user with its SQLite data on a volume.

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PATH=/opt/venv/bin:$PATH
RUN python -m venv /opt/venv
WORKDIR /src
COPY requirements.lock ./
RUN pip install --no-deps --requirement requirements.lock
COPY pyproject.toml README.md alembic.ini ./
COPY tracker ./tracker
COPY migrations ./migrations
RUN pip install --no-deps /src

FROM python:3.11-slim
RUN groupadd --system --gid 10001 tracker \
    && useradd --system --uid 10001 --gid tracker --home-dir /data --no-create-home tracker \
    && mkdir /data \
    && chown 10001:10001 /data
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    TRACKER_DATABASE_URL=sqlite+aiosqlite:////data/tracker.db \
    TRACKER_SPOOL_DIR=/data/spool
USER 10001:10001
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s --start-period=15s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"]
# Exec form: SIGTERM reaches uvicorn, which drains the click queue before it exits.
STOPSIGNAL SIGTERM
ENTRYPOINT ["tracker"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
