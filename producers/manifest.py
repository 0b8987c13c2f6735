"""The manifest: one job a line (JSON Lines), as ``wanq submit`` and ``submit_many`` read it.

Each line is a JSON object with the fields of an edit request
(:class:`~workers.contract.EditRequest`) and, optionally, ``custom_id`` (the caller's
idempotency key: 1 to 256 printable characters, no whitespace), ``tenant`` (whom the job is
for; tenants share the upstream's slots by weight) and ``priority`` (``interactive`` jobs take
the next free slot before ``bulk`` ones, the default)::

    {"custom_id": "sku-1042", "tenant": "shop-7", "model": "wan2.7-image",
     "prompt": "White background", "images": ["https://cdn.example.com/1042.jpg"]}

(one line in the file).

Blank lines are skipped; line numbers count every line, blank ones included, so that an error
points at the line an editor shows. A line that is not a JSON object is an entry with a
problem, not an exception: the rest of the manifest still goes in.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

from workers.contract.problems import short_repr
from workers.contract.records import Priority
from workers.errors import InputInvalid

CUSTOM_ID_FIELD: Final = "custom_id"
TENANT_FIELD: Final = "tenant"
PRIORITY_FIELD: Final = "priority"
PRIORITY_RULE: Final = "must be 'interactive' or 'bulk'"
NAME_RULE: Final = "must be a string of 1 to 256 printable characters with no whitespace"
REQUEST_RULE: Final = "must be a mapping of field names to values"
_NAME: Final = re.compile(r"[^\s]{1,256}")
_BOM: Final = "\ufeff"


@dataclass(frozen=True)
class ManifestEntry:
    """One non-blank line of a manifest.

    Attributes:
        line: Its line number (from 1).
        data: The JSON object it holds (None when it has a problem).
        problem: Why the line is not a JSON object.
    """

    line: int
    data: Mapping[str, Any] | None = None
    problem: InputInvalid | None = None


@dataclass(frozen=True)
class LineError:
    """A refused line (or item) of a submission.

    Attributes:
        line: Its line number (items of ``submit_many``: their position, from 1).
        error: The broken rule.
    """

    line: int
    error: InputInvalid

    def __str__(self) -> str:
        return f"line {self.line}: {self.error}"


def read_manifest(lines: Iterable[str | bytes]) -> Iterator[ManifestEntry]:
    """Read a manifest's lines (text or UTF-8 bytes, as a file yields them)."""
    for number, raw in enumerate(lines, start=1):
        try:
            text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        except UnicodeDecodeError:
            rule = "each line must be UTF-8 text"
            yield ManifestEntry(number, problem=InputInvalid("json", rule, short_repr(raw)))
            continue
        if number == 1:
            text = text.removeprefix(_BOM)
        text = text.strip()
        if not text:
            continue
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            rule = f"each line must be one JSON object ({exc.msg} at column {exc.colno})"
            yield ManifestEntry(number, problem=InputInvalid("json", rule, short_repr(text)))
            continue
        except (ValueError, RecursionError) as exc:
            # Valid JSON that Python does not load: an integer past the int-to-str digit
            # limit (ValueError), or arrays and objects nested deeper than the stack.
            why = "nested too deeply" if isinstance(exc, RecursionError) else "a number too long"
            rule = f"each line must be one JSON object ({why})"
            yield ManifestEntry(number, problem=InputInvalid("json", rule, short_repr(text)))
            continue
        if not isinstance(data, dict):
            rule = "each line must be a JSON object of edit request fields"
            yield ManifestEntry(number, problem=InputInvalid("json", rule, short_repr(text)))
            continue
        yield ManifestEntry(number, data=data)


def split_custom_id(data: Mapping[str, Any]) -> tuple[dict[str, Any], str | None]:
    """Separate a line's ``custom_id`` from its request fields.

    Raises:
        InputInvalid: The line is not a mapping, or the custom id is not a non-blank string
            without whitespace.
    """
    if not isinstance(data, Mapping):  # submit() and submit_many() take what a caller gives
        raise InputInvalid("request", REQUEST_RULE, short_repr(data))
    fields = dict(data)
    custom_id = fields.pop(CUSTOM_ID_FIELD, None)
    return fields, check_custom_id(custom_id)


@dataclass(frozen=True)
class JobOptions:
    """A job's fields besides its request (None: not given)."""

    tenant: str | None = None
    priority: Priority | None = None

    def over(self, defaults: JobOptions) -> JobOptions:
        """These options, with ``defaults`` where none is given."""
        return JobOptions(self.tenant or defaults.tenant, self.priority or defaults.priority)


def split_options(data: Mapping[str, Any]) -> tuple[dict[str, Any], JobOptions]:
    """Separate a line's ``tenant`` and ``priority`` from its other fields.

    Raises:
        InputInvalid: The tenant is not a name, or the priority not a lane.
    """
    fields = dict(data)
    tenant, priority = fields.pop(TENANT_FIELD, None), fields.pop(PRIORITY_FIELD, None)
    return fields, check_options(tenant, priority)


def check_options(tenant: object, priority: object) -> JobOptions:
    """A tenant and a priority, checked (None stays None).

    Raises:
        InputInvalid: The tenant is not a name, or the priority not a lane.
    """
    if tenant is not None:
        tenant = check_name(TENANT_FIELD, tenant)
    if priority is not None:
        if not isinstance(priority, str) or priority not in set(Priority):
            raise InputInvalid(PRIORITY_FIELD, PRIORITY_RULE, short_repr(priority))
        priority = Priority(priority)
    return JobOptions(tenant, priority)


def check_custom_id(custom_id: object) -> str | None:
    """The custom id, checked (None stays None).

    Raises:
        InputInvalid: Not a string of 1 to 256 printable characters with no whitespace.
    """
    return None if custom_id is None else check_name(CUSTOM_ID_FIELD, custom_id)


def check_name(field: str, value: object) -> str:
    """A custom id or batch name, checked.

    Raises:
        InputInvalid: Not a string of 1 to 256 printable characters with no whitespace.
    """
    # Printable: no control characters for a terminal, no lone surrogates for Redis's UTF-8.
    if not isinstance(value, str) or not _NAME.fullmatch(value) or not value.isprintable():
        raise InputInvalid(field, NAME_RULE, short_repr(value))
    return value
