"""Temporary uploads: the ``getPolicy`` answer and the fake OSS PostObject target behind it.

The official SDK uploads a local file (``file://``) in two steps (dashscope-protocol.md section
10): ``GET /uploads?action=getPolicy`` returns a signed POST policy whose ``upload_host`` points
at this emulator, then the SDK POSTs the file there as multipart/form-data under
``key = upload_dir/basename`` and sends ``oss://<key>`` in the request. Files stay in memory for
`upload_ttl_s`; ``oss://`` keys resolve only for the account that fetched the policy. A form
that breaks its policy is refused with the OSS error answer (emulator.errors).
"""

from __future__ import annotations

import base64
import binascii
import calendar
import hashlib
import hmac
import json
import time
import uuid
from collections import OrderedDict
from typing import Any

from emulator.constants import (
    MIB_BYTES,
    OSS_ACCESS_KEY_ID,
    OSS_BUCKET,
    OSS_PREFIX,
    OSS_UPLOAD_PATH,
    UPLOAD_CAPACITY_LIMIT_MB,
    UPLOAD_DIR_ROOT,
    UPLOAD_MAX_FILE_MB,
    UPLOAD_POLICY_TTL_S,
    UPLOAD_STORE_MAX_BYTES,
)
from emulator.errors import (
    entity_too_large,
    file_already_exists,
    invalid_access_key_id,
    invalid_argument,
    invalid_policy,
    policy_condition_failed,
    policy_expired,
    policy_signature_mismatch,
)
from emulator.storage.multipart import Form

_POLICY_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S"


def account_dir(account: str) -> str:
    """The per-account directory segment of upload keys."""
    return hashlib.md5(account.encode()).hexdigest()


class Uploads:
    """Issues upload policies and stores the files posted with them."""

    def __init__(self, secret: bytes, public_url: str) -> None:
        self._secret = secret
        self._upload_host = public_url.rstrip("/") + OSS_UPLOAD_PATH
        self._files: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self.size_bytes = 0
        self.policies_issued = 0
        self.files_stored = 0

    def policy(self, account: str, now: float) -> dict[str, Any]:
        """The ``data`` object of a getPolicy answer for `account`."""
        day = time.strftime("%Y-%m-%d", time.localtime(now))
        upload_dir = f"{UPLOAD_DIR_ROOT}/{account_dir(account)}/{day}/{uuid.uuid4()}"
        expires_at = time.gmtime(now + UPLOAD_POLICY_TTL_S)
        expiration = time.strftime(_POLICY_TIME_FORMAT + ".000Z", expires_at)
        document = {
            "expiration": expiration,
            "conditions": [
                ["content-length-range", 0, UPLOAD_MAX_FILE_MB * MIB_BYTES],
                ["starts-with", "$key", upload_dir],
                {"bucket": OSS_BUCKET},
                {"x-oss-object-acl": "private"},
                {"x-oss-forbid-overwrite": "true"},
            ],
        }
        policy = base64.b64encode(json.dumps(document).encode()).decode()
        self.policies_issued += 1
        return {
            "policy": policy,
            "signature": self._sign(policy),
            "upload_dir": upload_dir,
            "upload_host": self._upload_host,
            "expire_in_seconds": int(UPLOAD_POLICY_TTL_S),
            "max_file_size_mb": UPLOAD_MAX_FILE_MB,
            "capacity_limit_mb": UPLOAD_CAPACITY_LIMIT_MB,
            "oss_access_key_id": OSS_ACCESS_KEY_ID,
            "x_oss_object_acl": "private",
            "x_oss_forbid_overwrite": "true",
        }

    def accept(self, form: Form, now: float) -> None:
        """Check an OSS PostObject form against its policy and store the file.

        Raises:
            ApiError: The OSS error to answer (bad key id, signature or policy, a key outside
                the policy's directory, no file, a file too large, an existing key).
        """
        fields = form.fields
        policy = fields.get("policy", "")
        if fields.get("OSSAccessKeyId") != OSS_ACCESS_KEY_ID or not policy:
            raise invalid_access_key_id()
        if not hmac.compare_digest(self._sign(policy), fields.get("Signature", "")):
            raise policy_signature_mismatch()
        document = _decode_policy(policy)
        prefix = _key_prefix(document)
        if document is None or prefix is None:
            raise invalid_policy()
        if now > _parse_expiration(str(document.get("expiration", ""))):
            raise policy_expired()
        key = fields.get("key", "")
        if not key.startswith(prefix):
            raise policy_condition_failed(prefix)
        upload = form.files.get("file")
        if upload is None:
            raise invalid_argument("The file field is missing.")
        data = upload[1]
        if len(data) > UPLOAD_MAX_FILE_MB * MIB_BYTES:
            raise entity_too_large()
        if key in self._files and fields.get("x-oss-forbid-overwrite", "").lower() == "true":
            raise file_already_exists()
        self._store(key, data, now)

    def counters(self) -> dict[str, int]:
        """Policies issued, files stored and bytes held, for ``GET /admin/stats``."""
        return {
            "policies_issued": self.policies_issued,
            "files_stored": self.files_stored,
            "bytes_stored": self.size_bytes,
        }

    def resolve(self, source: str, account: str) -> bytes | None:
        """The bytes behind ``oss://<key>`` if `account` uploaded them, else None."""
        key = source[len(OSS_PREFIX) :] if source.startswith(OSS_PREFIX) else source
        parts = key.split("/")
        if len(parts) < 3 or parts[0] != UPLOAD_DIR_ROOT or parts[1] != account_dir(account):
            return None
        entry = self._files.get(key)
        return None if entry is None else entry[1]

    def expire(self, now: float, ttl_s: float) -> None:
        """Drop files stored `ttl_s` or more before `now`."""
        while self._files:
            _, (stored_at, data) = next(iter(self._files.items()))
            if stored_at > now - ttl_s:
                break
            self._files.popitem(last=False)
            self.size_bytes -= len(data)

    def clear(self) -> None:
        """Drop every file and counter."""
        self._files.clear()
        self.size_bytes = 0
        self.policies_issued = 0
        self.files_stored = 0

    def _store(self, key: str, data: bytes, now: float) -> None:
        old = self._files.pop(key, None)
        if old is not None:
            self.size_bytes -= len(old[1])
        self._files[key] = (now, data)
        self.size_bytes += len(data)
        self.files_stored += 1
        while self.size_bytes > UPLOAD_STORE_MAX_BYTES and len(self._files) > 1:
            _, (_, evicted) = self._files.popitem(last=False)
            self.size_bytes -= len(evicted)

    def _sign(self, policy: str) -> str:
        digest = hmac.new(self._secret, policy.encode(), hashlib.sha1).digest()
        return base64.b64encode(digest).decode()


def _decode_policy(policy: str) -> dict[str, Any] | None:
    try:
        document = json.loads(base64.b64decode(policy, validate=True))
    except (binascii.Error, ValueError):
        return None
    return document if isinstance(document, dict) else None


def _key_prefix(document: dict[str, Any] | None) -> str | None:
    if document is None:
        return None
    for condition in document.get("conditions", []):
        if isinstance(condition, list) and condition[:2] == ["starts-with", "$key"]:
            return str(condition[2])
    return None


def _parse_expiration(text: str) -> float:
    """Unix time of a policy's ISO-8601 UTC expiration (0 when unreadable)."""
    try:
        parsed = time.strptime(text[:19], _POLICY_TIME_FORMAT)
    except ValueError:
        return 0.0
    return float(calendar.timegm(parsed))
