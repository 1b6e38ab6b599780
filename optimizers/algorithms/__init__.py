"""The optimizers, one file each, behind one small base class.

* :mod:`~optimizers.algorithms.optimizer`: :class:`Optimizer`, the step pipeline every one shares.
* :mod:`~optimizers.algorithms.graph`: :class:`GraphOptimizer`, one call proposes every update.
* :mod:`~optimizers.algorithms.textual_gradient`: :class:`TextualGradientOptimizer`.
* :mod:`~optimizers.algorithms.history`: :class:`HistoryOptimizer`, from values tried and scores.
"""

from __future__ import annotations

from optimizers.algorithms.graph import GraphOptimizer
from optimizers.algorithms.history import HistoryOptimizer
from optimizers.algorithms.optimizer import Optimizer
from optimizers.algorithms.textual_gradient import TextualGradientOptimizer

__all__ = ["GraphOptimizer", "HistoryOptimizer", "Optimizer", "TextualGradientOptimizer"]
