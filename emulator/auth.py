"""API keys: which account a ``Authorization: Bearer`` key belongs to.

Tasks belong to accounts, not keys: any key of an account sees all of the account's tasks.
Each key also gets a stable numeric ``api_key_id`` (what the task list reports).
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass

from emulator.config.root import EmulatorConfig
from emulator.config.sections import Account
from emulator.errors import invalid_api_key

_BEARER = "bearer "
_ID_DIGITS = 6
_UID_DIGITS = 16


@dataclass(frozen=True, slots=True)
class Caller:
    """The authenticated caller of a request.

    Attributes:
        account: The account's name.
        api_key_id: Stable numeric id of the key used.
    """

    account: str
    api_key_id: str


def numeric_id(text: str, digits: int) -> str:
    """A stable decimal id derived from `text` (no leading zero)."""
    value = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")
    low = 10 ** (digits - 1)
    return str(low + value % (9 * low))


@functools.cache
def account_uid(account: str) -> str:
    """The account's stable numeric uid (``caller_uid`` in the task list)."""
    return numeric_id("account:" + account, _UID_DIGITS)


class KeyRing:
    """Resolves API keys to callers; rebuilt whenever the configuration changes."""

    def __init__(self, config: EmulatorConfig) -> None:
        self._callers: dict[str, Caller] = {}
        self._accounts: dict[str, Account] = {}
        for account in config.accounts:
            self._accounts[account.name] = account
            for key in account.api_keys:
                self._callers[key] = Caller(account.name, numeric_id(key, _ID_DIGITS))

    def authenticate(self, authorization: str | None) -> Caller:
        """Return the caller of an ``Authorization`` header value.

        Raises:
            ApiError: 401 InvalidApiKey when the header is missing, not a bearer token or
                not a known key.
        """
        if authorization is None or authorization[:7].lower() != _BEARER:
            raise invalid_api_key()
        caller = self._callers.get(authorization[7:].strip())
        if caller is None:
            raise invalid_api_key()
        return caller

    def account(self, name: str) -> Account | None:
        """The account called `name`, if the current configuration still has it."""
        return self._accounts.get(name)
