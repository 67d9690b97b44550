"""The Hub client every push uses: the token comes from huggingface_hub (HF_TOKEN or the stored login)."""

from __future__ import annotations

from huggingface_hub import HfApi, get_token


def hub_api(token: str | None = None) -> HfApi:
    """An authenticated :class:`HfApi`; a clear error when no token is configured. The token is never printed."""
    token = token or get_token()
    if token is None:
        raise PermissionError("no Hugging Face token: set HF_TOKEN or run `hf auth login`")
    return HfApi(token=token)
