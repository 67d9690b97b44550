"""The Hub client every push uses: the token comes from huggingface_hub (HF_TOKEN or the stored login)."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from contextlib import contextmanager

from huggingface_hub import HfApi, get_token


def hub_api(token: str | None = None) -> HfApi:
    """An authenticated :class:`HfApi`; a clear error when no token is configured. The token is never printed."""
    token = token or get_token()
    if token is None:
        raise PermissionError("no Hugging Face token: set HF_TOKEN or run `hf auth login`")
    return HfApi(token=token)


def _network_errors() -> tuple[type[BaseException], ...]:
    """Connection failures: the HTTP client's (huggingface_hub 2.x uses httpx2, earlier releases httpx) and
    ``ConnectionError`` (huggingface_hub's OfflineModeIsEnabled is one)."""
    for name in ("httpx2", "httpx"):
        try:
            return (importlib.import_module(name).TransportError, ConnectionError)
        except (ImportError, AttributeError):
            continue
    return (ConnectionError,)


@contextmanager
def reaching_hub(what: str) -> Iterator[None]:
    """Turn a failed connection (no network, HF_HUB_OFFLINE, a refused endpoint) into one ``ConnectionError`` line
    naming what was being pushed, instead of the HTTP client's traceback."""
    try:
        yield
    except _network_errors() as err:
        raise ConnectionError(f"cannot reach the Hub to push {what}: {err}") from None
