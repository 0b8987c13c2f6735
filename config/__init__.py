"""Configuration: one pydantic-settings root read from the environment (prefix ``WANQ_``).

This package imports nothing of the project. Everything else receives a :class:`Settings`
instance built once at process start by :func:`load_settings`.
"""

from config.accounts import AccountSettings, LimiterSettings, ModelLimits
from config.regions import Region, base_url_for
from config.settings import (
    FlowerSettings,
    InputsSettings,
    PipelineSettings,
    ResultsSettings,
    S3Settings,
    Settings,
    SweeperSettings,
    UpstreamSettings,
    load_settings,
)

__all__ = [
    "AccountSettings",
    "FlowerSettings",
    "InputsSettings",
    "LimiterSettings",
    "ModelLimits",
    "PipelineSettings",
    "Region",
    "ResultsSettings",
    "S3Settings",
    "Settings",
    "SweeperSettings",
    "UpstreamSettings",
    "base_url_for",
    "load_settings",
]
