"""The run viewer: a local web app (``tracegraph view RUN_DIR``) and the same views exported
as one self-contained ``report.html``.

Only :mod:`optimizers.view.server` needs the ``view`` extra (Starlette and uvicorn); reading
a run (:mod:`optimizers.view.data`) and exporting the report use the standard library.
"""

from __future__ import annotations

__all__: list[str] = []
