"""docker-compose.yml, .env.example and the Dockerfile, checked without Docker.

Every service's command must name something that exists (a module, a console script), every
``WANQ_*`` name must be a real setting, every setting must be in .env.example with its true
default, Redis must persist (AOF), Flower must ask for a password, and no secret may be
written in the compose file.
"""

from __future__ import annotations

import importlib.util
import os
import re
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from config import load_settings
from devstack.env import setting_names
from devstack.envfile import COMPOSE_REQUIRED, render_env_example, render_markdown
from workers.contract.names import QUEUES

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_TEXT = (ROOT / "docker-compose.yml").read_text()
COMPOSE: dict[str, Any] = yaml.safe_load(COMPOSE_TEXT)
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
ENV_EXAMPLE = (ROOT / ".env.example").read_text()
PYPROJECT_TOML = tomllib.loads((ROOT / "pyproject.toml").read_text())
PYPROJECT = PYPROJECT_TOML["project"]

SETTINGS = set(setting_names())
WANQ_NAME = re.compile(r"\bWANQ_[A-Z0-9_]+")
INTERPOLATION = re.compile(r"\$\{[^}]*\}")
SECRET_FLAG = re.compile(r"(?:--requirepass|--basic-auth|\s-a|REDISCLI_AUTH)[=\s]+(\S+)")
SECRET_NAME = re.compile(r"PASSWORD|SECRET|API_KEY|ACCESS_KEY|TOKEN|BASIC_AUTH", re.IGNORECASE)
ASSIGNMENT = re.compile(r"^(#\s*)?(WANQ_[A-Z0-9_]+)=(.*)$", re.MULTILINE)
OUR_IMAGE_SERVICES = [name for name, service in SERVICES.items() if "build" in service]


def _module_exists(module: str) -> bool:
    path = ROOT.joinpath(*module.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _requirement_names(requirements: list[str]) -> set[str]:
    return {re.split(r"[\[<>=!~ ;]", r, maxsplit=1)[0].lower() for r in requirements}


def _environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {str(k): str(v) for k, v in env.items()}


def _command(service: dict[str, Any]) -> list[str]:
    command = service.get("command") or []
    return command.split() if isinstance(command, str) else [str(part) for part in command]


def test_our_image_serves_the_workers_the_emulator_and_flower() -> None:
    assert {"worker-submit", "worker-poll", "worker-store", "flower", "emulator"} <= set(
        OUR_IMAGE_SERVICES
    )
    assert {"redis", "minio", "minio-setup"} <= set(SERVICES)


@pytest.mark.parametrize("name", OUR_IMAGE_SERVICES)
def test_each_command_names_a_real_module_or_console_script(name: str) -> None:
    command = _command(SERVICES[name])
    program = command[0]
    if program == "celery":
        assert "celery" in _requirement_names(PYPROJECT["dependencies"])
        app = command[command.index("-A") + 1]
        assert _module_exists(app), f"{name}: `celery -A {app}`: no module {app}"
        assert command[command.index("-A") + 2] in {"worker", "flower"}
        assert importlib.util.find_spec(app.split(".")[0]) is not None
    elif program == "python":
        assert command[1] == "-m", f"{name}: python without -m"
        module = command[2]
        main = ROOT.joinpath(*module.split("."), "__main__.py")
        assert main.is_file() or _module_exists(module), f"{name}: no module {module}"
    else:
        assert program in PYPROJECT["scripts"], f"{name}: {program} is no console script of ours"


def test_the_workers_serve_every_queue_with_threads_and_events() -> None:
    served: set[str] = set()
    for name in ("worker-submit", "worker-poll", "worker-store"):
        command = _command(SERVICES[name])
        assert command[command.index("--pool") + 1] == "threads"
        assert "-E" in command
        served |= set(command[command.index("-Q") + 1].split(","))
    assert served == set(QUEUES)


def test_every_wanq_name_in_compose_and_env_example_is_a_setting() -> None:
    for source, text in (("docker-compose.yml", COMPOSE_TEXT), (".env.example", ENV_EXAMPLE)):
        unknown = set(WANQ_NAME.findall(text)) - SETTINGS
        assert not unknown, f"{source} names no such setting: {sorted(unknown)}"


def test_every_setting_is_in_env_example() -> None:
    listed = {match.group(2) for match in ASSIGNMENT.finditer(ENV_EXAMPLE)}
    assert SETTINGS - listed == set(), "missing from .env.example"


def test_env_example_shows_the_true_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.upper().startswith("WANQ_"):
            monkeypatch.delenv(name)
    defaults = load_settings()
    for match in ASSIGNMENT.finditer(ENV_EXAMPLE):
        commented, name, value = match.groups()
        if commented and value:
            monkeypatch.setenv(name, value)
        elif not commented:
            assert name in COMPOSE_REQUIRED, f"{name} is set in .env.example"
            assert value == "", f"{name}: .env.example must not carry a value for a secret"
    assert load_settings() == defaults


def test_env_example_is_current() -> None:
    assert render_env_example() == ENV_EXAMPLE, "run: python -m devstack.envfile --write"


def _same_default(shown: str, actual: str) -> bool:
    """``5`` and ``5.0`` are the same default."""
    shown, actual = shown.strip("`"), actual.strip("`")
    try:
        return shown == actual or float(shown) == float(actual)
    except ValueError:
        return False


def test_readme_configuration_table_lists_every_setting_with_its_default() -> None:
    readme = (ROOT / "README.md").read_text()
    for row in render_markdown().splitlines()[2:]:
        name, default = (cell.strip() for cell in row.split("|")[1:3])
        line = next((x for x in readme.splitlines() if x.startswith(f"| {name} |")), None)
        assert line is not None, f"README's configuration table lacks {name}"
        shown = line.split("|")[2].strip()
        assert _same_default(shown, default), f"README: {name} defaults to {default}, not {shown}"


def test_redis_persists_with_aof_on_a_volume_and_a_password() -> None:
    redis = SERVICES["redis"]
    command = " ".join(_command(redis))
    assert "--appendonly yes" in command
    assert "--requirepass" in command
    assert any(str(volume).endswith(":/data") for volume in redis["volumes"])


def test_flower_asks_for_basic_auth_from_the_settings() -> None:
    flower = SERVICES["flower"]
    auth = _environment(flower).get("FLOWER_BASIC_AUTH", "")
    command = _command(flower)
    assert auth or any(part.startswith("--basic-auth") for part in command)
    assert "WANQ_FLOWER__PASSWORD" in auth and "WANQ_FLOWER__USER" in auth


def test_the_workers_reach_redis_and_minio_by_service_name() -> None:
    env = _environment(SERVICES["worker-submit"])
    assert urlsplit(INTERPOLATION.sub("", env["WANQ_REDIS_URL"])).hostname == "redis"
    assert "minio:9000" in env["WANQ_S3__ENDPOINT_URL"]
    for service in SERVICES.values():
        for dependency in service.get("depends_on") or {}:
            assert dependency in SERVICES


def _literal(value: str) -> str:
    """What is left of a value once every ``${...}`` interpolation is taken out."""
    return INTERPOLATION.sub("", value)


@pytest.mark.parametrize("name", list(SERVICES))
def test_no_secret_is_written_in_compose(name: str) -> None:
    service = SERVICES[name]
    for key, value in _environment(service).items():
        if SECRET_NAME.search(key):
            assert _literal(value).strip(":") == "", f"{name}: {key} has a literal value"
        if "://" in value:
            assert not urlsplit(_literal(value)).password, f"{name}: {key} has a password"
    healthcheck = (service.get("healthcheck") or {}).get("test") or []
    parts = _command(service) + [str(p) for p in service.get("entrypoint") or []]
    text = " ".join(parts + [str(p) for p in healthcheck])
    for value in SECRET_FLAG.findall(text):
        assert value.lstrip("\"'").startswith("$"), f"{name}: a literal secret on a command"


def test_the_image_runs_as_a_non_root_user_from_python_3_11_slim() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim\b", dockerfile, re.MULTILINE)
    assert re.search(r"^RUN pip install \.", dockerfile, re.MULTILINE)
    users = re.findall(r"^USER (\S+)", dockerfile, re.MULTILINE)
    assert users and users[-1] not in ("root", "0")
    copied = set(re.findall(r"^COPY (\w+) ", dockerfile, re.MULTILINE))
    include = PYPROJECT_TOML["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = {pattern.rstrip("*") for pattern in include}
    assert packages <= copied, "the Dockerfile must copy every package pip installs"


def test_flower_gets_the_broker_and_its_auth_only() -> None:
    flower = SERVICES["flower"]
    assert "env_file" not in flower, "Flower must not receive the workers' .env"
    env = _environment(flower)
    assert set(env) == {"WANQ_REDIS_URL", "WANQ_KEY_PREFIX", "FLOWER_BASIC_AUTH"}
    assert urlsplit(INTERPOLATION.sub("", env["WANQ_REDIS_URL"])).hostname == "redis"


def test_runtime_dependencies_hold_no_dev_tools_and_the_emulator_image_has_its_extra() -> None:
    runtime = _requirement_names(PYPROJECT["dependencies"])
    assert not runtime & {"moto", "fastapi", "uvicorn", "pytest", "ruff", "mypy"}
    extras = PYPROJECT["optional-dependencies"]
    assert _requirement_names(extras["emulator"]) == {"fastapi", "uvicorn"}
    assert {"wanqueue", "moto"} <= _requirement_names(extras["demo"])
    assert "wanqueue[emulator]" in extras["demo"] and "wanqueue[demo]" in extras["bench"]
    assert "wanqueue[bench]" in extras["dev"]  # make test runs the benchmarks' own tests
    emulator = SERVICES["emulator"]
    assert emulator["build"]["args"]["EXTRAS"] == "emulator"
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^ARG EXTRAS=", dockerfile, re.MULTILINE)
    assert "${EXTRAS:+" in dockerfile
