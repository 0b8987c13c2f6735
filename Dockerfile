# One image for every wanqueue process: workers (celery -A workers.app worker -Q ...), Flower
# and the `wanq` command line; built with EXTRAS=emulator it also runs the emulator
# (python -m emulator). See docker-compose.yml.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Only what the package is built from: no tests, no local state, no .env.
COPY pyproject.toml README.md ./
COPY adapters ./adapters
COPY config ./config
COPY workers ./workers
COPY producers ./producers
COPY emulator ./emulator
COPY devstack ./devstack
# Extras to install (the compose emulator service builds with EXTRAS=emulator).
ARG EXTRAS=""
RUN pip install .${EXTRAS:+"[$EXTRAS]"} \
    && useradd --create-home --uid 10001 --shell /usr/sbin/nologin wanq \
    && rm -rf /app/build

USER wanq
WORKDIR /home/wanq

CMD ["celery", "-A", "workers.app", "worker", "-Q", "submit,poll,store", "--pool", "threads", "-c", "16", "-E"]
