"""Our retry policy (the ``openai`` client's own retries are off): exponential backoff with full
jitter on 429, 5xx, timeouts and dropped connections, never shorter than a 429's Retry-After.

Each attempt is a separate call for budgets (``BaseClient._metered``), so retries can never
spend past a budget.
"""

from __future__ import annotations

import logging
import random
from typing import Any, Protocol

from tenacity import RetryCallState, retry_if_exception_type, stop_after_attempt

from optimizers.errors import LLMConnectionError, LLMTimeout, RateLimited, ServerError

__all__ = ["RETRYABLE", "RetrySettings", "retry_args"]

logger = logging.getLogger("optimizers.llm")
RETRYABLE = (RateLimited, ServerError, LLMTimeout, LLMConnectionError)


class RetrySettings(Protocol):
    """What the policy reads from a client."""

    model: str
    endpoint: str
    max_retries: int
    backoff: float
    max_retry_wait: float


def retry_args(client: RetrySettings) -> dict[str, Any]:
    """Keyword arguments for tenacity's ``Retrying`` / ``AsyncRetrying``."""

    def wait(state: RetryCallState) -> float:
        jittered = random.uniform(0, client.backoff * 2 ** (state.attempt_number - 1))
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, RateLimited) and error.retry_after is not None:
            jittered = error.retry_after + random.uniform(0, client.backoff)
        return min(client.max_retry_wait, jittered)

    def log(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        pause = state.next_action.sleep if state.next_action else 0.0
        first_line = str(error).splitlines()[0] if error else "?"
        logger.warning(
            "%s at %s: %s; retry %d of %d in %.2f s",
            client.model,
            client.endpoint,
            first_line,
            state.attempt_number,
            client.max_retries,
            pause,
        )

    return {
        "stop": stop_after_attempt(client.max_retries + 1),
        "wait": wait,
        "retry": retry_if_exception_type(RETRYABLE),
        "reraise": True,
        "before_sleep": log,
    }
