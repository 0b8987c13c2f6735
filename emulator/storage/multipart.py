"""A minimal multipart/form-data reader for the fake OSS upload target.

python-multipart is not a dependency, and the form an OSS PostObject carries is small and
regular: text fields plus one ``file`` part.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_BOUNDARY_RE = re.compile(r'boundary="?([^";]+)"?', re.IGNORECASE)
_DISPOSITION_PARAM_RE = re.compile(r'(\w+)="([^"]*)"')


@dataclass
class Form:
    """A parsed form.

    Attributes:
        fields: Text fields by name.
        files: File parts by field name: (file name, bytes).
    """

    fields: dict[str, str] = field(default_factory=dict)
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)


def parse_form(content_type: str, body: bytes) -> Form:
    """Parse a multipart/form-data body.

    Args:
        content_type: The request's Content-Type header (carries the boundary).
        body: The raw body.

    Raises:
        ValueError: Not multipart/form-data, or no boundary.
    """
    if not content_type.lower().startswith("multipart/form-data"):
        raise ValueError("the body is not multipart/form-data")
    match = _BOUNDARY_RE.search(content_type)
    if match is None:
        raise ValueError("multipart/form-data without a boundary")
    delimiter = b"--" + match.group(1).encode()
    form = Form()
    for chunk in body.split(delimiter)[1:]:
        if chunk.startswith(b"--"):
            break
        if chunk.startswith(b"\r\n"):
            chunk = chunk[2:]
        head, _, data = chunk.partition(b"\r\n\r\n")
        if data.endswith(b"\r\n"):
            data = data[:-2]
        params = _disposition(head.decode("utf-8", "replace"))
        name = params.get("name")
        if name is None:
            continue
        if "filename" in params:
            form.files[name] = (params["filename"], data)
        else:
            form.fields[name] = data.decode("utf-8", "replace")
    return form


def _disposition(head: str) -> dict[str, str]:
    for line in head.split("\r\n"):
        key, _, value = line.partition(":")
        if key.strip().lower() == "content-disposition":
            return dict(_DISPOSITION_PARAM_RE.findall(value))
    return {}
