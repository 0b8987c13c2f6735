"""Producers depend on the job contract only: no worker internals, no environment reads."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import producers

PRODUCERS = Path(producers.__file__).parent
ALLOWED_WORKER_MODULES = ("workers.contract", "workers.errors")
FORBIDDEN = ("workers.app", "workers.tasks", "workers.pipeline", "workers.upstream",
             "workers.storage", "workers.runtime", "workers.limits", "workers.fetch",
             "emulator", "devstack")  # fmt: skip


def _imports(path: Path) -> list[str]:
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
    return names


def test_producers_import_only_the_contract_from_workers() -> None:
    for path in PRODUCERS.glob("*.py"):
        for name in _imports(path):
            if name == "workers" or name.startswith("workers."):
                assert name.startswith(ALLOWED_WORKER_MODULES), f"{path.name} imports {name}"


def test_producers_never_read_the_environment() -> None:
    readers = {"environ", "environb", "getenv", "getenvb"}
    for path in PRODUCERS.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            name = node.attr if isinstance(node, ast.Attribute) else getattr(node, "id", None)
            assert name not in readers, f"{path.name}:{getattr(node, 'lineno', '?')} {name}"


def test_loading_the_cli_loads_no_worker_internals() -> None:
    code = "import json, sys, producers.cli; print(json.dumps(sorted(sys.modules)))"
    loaded = json.loads(subprocess.check_output([sys.executable, "-c", code], text=True))
    bad = [name for name in loaded if name.startswith(FORBIDDEN)]
    assert bad == []
