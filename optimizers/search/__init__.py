"""Searches on top of any optimizer: several candidates per step, scored, the best kept.

* :mod:`~optimizers.search.best_of_n`: :class:`BestOfN`, one step, ``k`` candidates.
* :mod:`~optimizers.search.beam`: :class:`BeamSearch`, the ``beam`` best kept across steps.
* :mod:`~optimizers.search.scoring`: candidates scored through an executor.
"""

from __future__ import annotations

from optimizers.search.beam import BeamSearch
from optimizers.search.best_of_n import BestOfN, Candidate

__all__ = ["BeamSearch", "BestOfN", "Candidate"]
