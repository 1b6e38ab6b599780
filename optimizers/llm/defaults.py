"""Which model to use when the user names none: the environment's endpoint, else a local model."""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Any

from optimizers.llm.local.files import HOSTED_HOWTO

if TYPE_CHECKING:
    from optimizers.llm.openai_client import OpenAIClient

__all__ = ["ENV_VARS", "HOSTED_HOWTO", "default_client", "local_model"]

logger = logging.getLogger("optimizers.llm")

#: Any of these set means "use the endpoint the environment describes".
ENV_VARS = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "TRACEGRAPH_MODEL")


def local_model(size: str = "1.5b", **options: Any) -> OpenAIClient:
    """A client for a real model on this machine; see :func:`optimizers.llm.local.local_model`.

    Imported on first use so that ``import optimizers`` never loads the local runtime.
    """
    from optimizers.llm.local import local_model as start_local

    return start_local(size, **options)


def default_client(**options: Any) -> OpenAIClient:
    """The endpoint configured in the environment, else the local model.

    Args:
        **options: passed to :class:`OpenAIClient` (or to :func:`local_model`).
    """
    from optimizers.llm.openai_client import OpenAIClient

    configured = [name for name in ENV_VARS if os.environ.get(name)]
    if configured:
        client = OpenAIClient(**options)
        logger.info(
            "using %s at %s (configured by %s)",
            client.model,
            client.endpoint,
            ", ".join(configured),
        )
        return client
    client = local_model(**options)
    logger.info("using the local model %s at %s; %s", client.model, client.endpoint, HOSTED_HOWTO)
    return client
