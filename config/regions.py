"""DashScope regions and their API hosts (see dashscope-protocol.md section 1).

API keys are region-scoped: a key from one region fails authentication in another.
"""

from enum import StrEnum


class Region(StrEnum):
    """A DashScope region, named by its Alibaba Cloud region id."""

    SINGAPORE = "ap-southeast-1"
    BEIJING = "cn-beijing"
    HONG_KONG = "cn-hongkong"
    VIRGINIA = "us-east-1"
    FRANKFURT = "eu-central-1"
    TOKYO = "ap-northeast-1"


# The classic gateways. Regions without one are served only by the workspace gateway.
_LEGACY_HOSTS: dict[Region, str] = {
    Region.SINGAPORE: "https://dashscope-intl.aliyuncs.com",
    Region.BEIJING: "https://dashscope.aliyuncs.com",
    Region.HONG_KONG: "https://cn-hongkong.dashscope.aliyuncs.com",
    Region.VIRGINIA: "https://dashscope-us.aliyuncs.com",
}

API_PATH = "/api/v1"


def base_url_for(region: Region, workspace_id: str | None = None) -> str:
    """Return the ``.../api/v1`` base URL for a region.

    Args:
        region: The region whose key will be used.
        workspace_id: When given, the workspace-scoped gateway
            ``https://{workspace_id}.{region}.maas.aliyuncs.com`` is used instead of the
            classic host (the paths are identical).

    Raises:
        ValueError: The region has no classic host and no workspace id was given.
    """
    if workspace_id:
        return f"https://{workspace_id}.{region.value}.maas.aliyuncs.com{API_PATH}"
    try:
        return _LEGACY_HOSTS[region] + API_PATH
    except KeyError:
        raise ValueError(
            f"region {region.value!r} has no classic DashScope host; set a workspace_id "
            "(WANQ_UPSTREAM__WORKSPACE_ID) or an explicit base_url"
        ) from None
