"""Every fixed value of the emulator in one place: defaults, limits, names and paths.

Durations carry their unit in the name. Values a user may change at run time live in the
configuration (emulator.config); the defaults of that configuration are taken from here. The
per-model request limits of docs/model-rules.md are a table of their own
(emulator.intake.table); the error messages are spelled in emulator.errors.
"""

from __future__ import annotations

from typing import Final

# ------------------------------------------------------------------------------ defaults
DEFAULT_HOST: Final = "127.0.0.1"
DEFAULT_PORT: Final = 8089
DEFAULT_API_KEY: Final = "sk-emulator"
DEFAULT_ACCOUNT: Final = "default"
DEFAULT_REGION: Final = "ap-southeast-1"
DEFAULT_QUERY_QPS: Final = 20.0
DEFAULT_TASK_TTL_S: Final = 86_400.0
DEFAULT_RESULT_URL_TTL_S: Final = 86_400.0
DEFAULT_UPLOAD_TTL_S: Final = 172_800.0
DEFAULT_PENDING_S: Final = 0.5
DEFAULT_RUNNING_MEDIAN_S: Final = 4.0
DEFAULT_RUNNING_SIGMA: Final = 0.35
DEFAULT_RUNNING_MAX_S: Final = 30.0
DEFAULT_FAULT_DELAY_S: Final = 2.0
DEFAULT_RETRY_AFTER_S: Final = 1.0
WILDCARD_MODEL: Final = "*"
MIB_BYTES: Final = 1024 * 1024

# ------------------------------------------------------------------------------ paths
API_PREFIX: Final = "/api/v1"
# The 1.x SDK rewrites "/api/" to "/api-task/" for task queries in one code path.
API_TASK_PREFIX: Final = "/api-task/v1"
PATH_IMAGE_GENERATION: Final = "/services/aigc/image-generation/generation"
PATH_IMAGE2IMAGE: Final = "/services/aigc/image2image/image-synthesis"
PATH_MULTIMODAL: Final = "/services/aigc/multimodal-generation/generation"
RESULTS_PREFIX: Final = "/results"
OSS_UPLOAD_PATH: Final = "/oss/dashscope-file-mgr"

# ------------------------------------------------------------------------------ headers
HEADER_ASYNC: Final = "x-dashscope-async"
HEADER_SSE: Final = "x-dashscope-sse"
HEADER_OSS_RESOLVE: Final = "x-dashscope-ossresourceresolve"
HEADER_REQUEST_ID: Final = "x-request-id"
HEADER_OSS_REQUEST_ID: Final = "x-oss-request-id"
HEADER_ADMIN_TOKEN: Final = "x-admin-token"
ENABLE: Final = "enable"
JSON_CONTENT_TYPE: Final = "application/json"
SSE_CONTENT_TYPE: Final = "text/event-stream;charset=UTF-8"
XML_CONTENT_TYPE: Final = "application/xml"

# ------------------------------------------------------------------------------ results
RESULT_BUCKET: Final = "dashscope-result-emulator"
OSS_ACCESS_KEY_ID: Final = "LTAI5tEmulatorAccessKey0"
RESULT_CACHE_MAX_BYTES: Final = 256 * MIB_BYTES
SOURCE_CACHE_MAX_BYTES: Final = 256 * MIB_BYTES

# ------------------------------------------------------------------------------ uploads
UPLOAD_DIR_ROOT: Final = "dashscope-instant"
UPLOAD_POLICY_TTL_S: Final = 300.0
UPLOAD_MAX_FILE_MB: Final = 1024
UPLOAD_CAPACITY_LIMIT_MB: Final = 999_999_999
UPLOAD_STORE_MAX_BYTES: Final = 1024 * MIB_BYTES
OSS_BUCKET: Final = "dashscope-file-mgr"
OSS_PREFIX: Final = "oss://"

# ------------------------------------------------------------------------------ sources
SOURCE_FETCH_TIMEOUT_S: Final = 5.0
SOURCE_FETCH_MAX_BYTES: Final = 21 * MIB_BYTES

# ------------------------------------------------------------------------------ requests
MAX_REQUEST_BODY_BYTES: Final = 256 * MIB_BYTES
MAX_SEED: Final = 2_147_483_647
LIST_MAX_PAGE_SIZE: Final = 100
LIST_TIME_FORMAT: Final = "%Y%m%d%H%M%S"
SYNC_POLL_INTERVAL_S: Final = 0.05
DROP_SETTLE_TICKS: Final = 3
