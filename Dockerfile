# One image for every SIMASN Jatim process: the eight Nameko services (`nameko run ...`), the
# outbox relay (`simasn relay`), the migration job (`simasn migrate`) and the backup job
# (`simasn backup`). The command chooses.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# pg_dump/pg_restore for `simasn backup`/`simasn restore` (the backup CronJob): bookworm (pinned
# above) ships client 15, the server's major version; a newer pg_dump writes dumps a 15 server
# may not restore.
RUN apt-get update \
    && apt-get install -y --no-install-recommends postgresql-client \
    && rm -rf /var/lib/apt/lists/*

# Dependencies first, pinned by constraints.txt, so a code change does not reinstall them.
COPY pyproject.toml constraints.txt ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -c constraints.txt -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

COPY README.md config.yaml ./
COPY shared ./shared
COPY services ./services
COPY simasn_cli ./simasn_cli
# the web application's files, served by the gateway (services/gateway/web.py)
COPY web ./web
RUN pip install --no-deps -c constraints.txt .

# The source tree comes first on the path: migrations read services/<name>/migrations/*.sql
# next to the code, which a wheel install does not carry.
ENV PYTHONPATH=/app \
    SIMASN_CONFIG=/app/config.yaml

RUN useradd --system --uid 10001 --no-create-home --home-dir /app --shell /usr/sbin/nologin simasn \
    && mkdir -p /keystore && chown 10001:10001 /keystore && chmod 700 /keystore
USER 10001:10001

EXPOSE 8000
CMD ["simasn", "--help"]
