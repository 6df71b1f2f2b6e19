# One image for every SIMASN Jatim process: the eight Nameko services (`nameko run ...`), the
# outbox relay (`simasn relay`) and the migration job (`simasn migrate`). The command chooses.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Dependencies first, pinned by constraints.txt, so a code change does not reinstall them.
COPY pyproject.toml constraints.txt ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -c constraints.txt -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

COPY README.md config.yaml ./
COPY shared ./shared
COPY services ./services
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
