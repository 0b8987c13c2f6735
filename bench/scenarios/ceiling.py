"""two-accounts: placeholder until written."""

from pathlib import Path
from typing import Any


def run(out: Path) -> dict[str, Any]:
    raise NotImplementedError
