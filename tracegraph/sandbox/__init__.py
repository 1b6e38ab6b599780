"""A process sandbox for code a model wrote (stdlib only): limits, a clean environment, no
network, writes only in a temporary directory, and the whole process tree killed at the end.

``Sandbox`` runs ``main(channel)`` of a payload script in a confined child; trial runs of
proposed code (``optimizers.step.trial``) and isolated trainable functions
(``@tg.trainable(isolated=True)``) are built on it. What each layer guards against, and what
it does not, is in docs/security.md.
"""

from tracegraph.sandbox.policy import Limits, clean_env
from tracegraph.sandbox.process import Sandbox, describe_status

__all__ = ["Limits", "Sandbox", "clean_env", "describe_status"]
