"""The run directory: the single, human-readable source of truth of a training run.

Layout (format ``tracegraph-run``, version :data:`FORMAT_VERSION`; see docs/run_directory.md)::

    RUN_DIR/
      run.json              format marker, version, the trainer's configuration, how to rebuild it
      checkpoint.json       the commit point: replaced atomically after every step
      calls.jsonl           every model call (request, reply, usage), appended and fsynced
      steps/000000/         the baseline: the starting parameters scored on the validation set
      steps/000001/ ...     one folder per step, written whole then renamed into place

A step folder whose number is above ``checkpoint.json``'s ``step`` is the debris of a step that
was interrupted; :meth:`RunDir.discard_uncommitted` removes it before that step is run again.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tracegraph.errors import PersistenceError

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "RunDir",
    "RunDirError",
    "atomic_write_text",
    "durable",
    "sync_file",
    "to_jsonable",
]

FORMAT = "tracegraph-run"
FORMAT_VERSION = 1
RUN_FILE = "run.json"
CHECKPOINT_FILE = "checkpoint.json"
JOURNAL_FILE = "calls.jsonl"
STEPS_DIR = "steps"


class RunDirError(PersistenceError):
    """A run directory is missing, foreign, of another format version, or corrupt."""


def to_jsonable(value: Any) -> Any:
    """``value`` as plain JSON data; objects JSON cannot hold are kept as their ``repr``."""
    return json.loads(json.dumps(value, default=repr))


def durable() -> bool:
    """Whether files are fsynced. Flushing alone already survives a killed process; fsync also
    survives a power cut. ``TRACEGRAPH_FSYNC=0`` turns it off (tests on slow disks)."""
    return os.environ.get("TRACEGRAPH_FSYNC", "1") != "0"


def sync_file(fh: Any) -> None:
    """Flush ``fh`` to the operating system, and to the disk when :func:`durable`."""
    fh.flush()
    if durable():
        os.fsync(fh.fileno())


def _fsync_dir(path: Path) -> None:
    # The rename itself lives in the directory entry: without this a power cut may lose it.
    if not durable():
        return
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def atomic_write_text(
    path: Path, text: str, *, before_rename: Callable[[], None] | None = None
) -> None:
    """Write ``text`` to ``path`` so that a reader sees the old file or the new one, never half.

    Writes a temporary file beside it, fsyncs it, then renames it over ``path``.
    ``before_rename`` runs between the two (tests inject a crash there).
    """
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        sync_file(fh)
    if before_rename is not None:
        before_rename()
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _dump(obj: Any) -> str:
    return json.dumps(obj, indent=2, ensure_ascii=False, default=repr) + "\n"


@dataclass(frozen=True)
class StepFiles:
    """What one step folder holds, as read back by the CLI and the report."""

    step: int
    record: dict[str, Any]
    params: dict[str, Any]
    path: Path


class RunDir:
    """Reads and writes one run directory.

    Example:
        >>> import tempfile
        >>> rd = RunDir(Path(tempfile.mkdtemp()) / "run")
        >>> rd.create({"epochs": 1})
        >>> rd.read_run()["format"]
        'tracegraph-run'
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    # -- paths -----------------------------------------------------------------------------
    @property
    def journal_path(self) -> Path:
        return self.path / JOURNAL_FILE

    @property
    def steps_path(self) -> Path:
        return self.path / STEPS_DIR

    def step_path(self, step: int) -> Path:
        return self.steps_path / f"{step:06d}"

    # -- creation and validation -----------------------------------------------------------
    def exists(self) -> bool:
        """True when the directory holds a run (its ``run.json``)."""
        return (self.path / RUN_FILE).is_file()

    def create(self, config: dict[str, Any]) -> None:
        """Start a new run here; refuse a directory that already holds files."""
        if self.path.exists() and any(self.path.iterdir()):
            what = "a run" if self.exists() else "other files"
            raise RunDirError(
                f"run directory {self.path} already holds {what}; expected an empty or new "
                "folder. Fix: resume it with `tracegraph resume DIR` / Trainer.fit(resume=True), "
                "or choose another run_dir."
            )
        self.steps_path.mkdir(parents=True, exist_ok=True)
        run = {"format": FORMAT, "version": FORMAT_VERSION, **to_jsonable(config)}
        atomic_write_text(self.path / RUN_FILE, _dump(run))

    def read_run(self) -> dict[str, Any]:
        """``run.json``, after checking that this is a run directory of a known version."""
        if not self.path.exists():
            raise RunDirError(
                f"no run directory at {self.path}. Fix: pass the folder a run wrote "
                "(the run_dir= of the Trainer, printed when the run started)."
            )
        if not self.path.is_dir():
            raise RunDirError(f"{self.path} is a file, expected a run directory")
        if not self.exists():
            raise RunDirError(
                f"{self.path} is not a tracegraph run directory: it has no {RUN_FILE}. "
                "Fix: pass the folder a Trainer wrote (it holds run.json, checkpoint.json, steps/)."
            )
        run = self._read_json(self.path / RUN_FILE)
        if not isinstance(run, dict) or run.get("format") != FORMAT:
            raise RunDirError(
                f"{self.path / RUN_FILE} is not a tracegraph run file "
                f"(format {run.get('format') if isinstance(run, dict) else None!r}, "
                f"expected {FORMAT!r})"
            )
        if run.get("version") != FORMAT_VERSION:
            raise RunDirError(
                f"{self.path} was written in run format version {run.get('version')!r}; this "
                f"tracegraph reads version {FORMAT_VERSION}. Fix: open it with the tracegraph "
                "version that wrote it."
            )
        return run

    def _read_json(self, path: Path) -> Any:
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise RunDirError(f"{path} is missing from the run directory") from exc
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise RunDirError(f"{path} is corrupt ({exc}); expected JSON") from exc

    # -- checkpoint ------------------------------------------------------------------------
    def read_checkpoint(self) -> dict[str, Any] | None:
        """The last committed checkpoint, or None when no step (not even step 0) finished."""
        self.read_run()
        path = self.path / CHECKPOINT_FILE
        if not path.exists():
            return None
        data = self._read_json(path)
        if not isinstance(data, dict) or data.get("version") != FORMAT_VERSION:
            raise RunDirError(f"{path} is not a checkpoint of format version {FORMAT_VERSION}")
        return data

    def write_checkpoint(
        self, state: dict[str, Any], *, before_rename: Callable[[], None] | None = None
    ) -> None:
        """Commit ``state`` as the new checkpoint (atomic: temp file, fsync, rename)."""
        data = {"format": "tracegraph-checkpoint", "version": FORMAT_VERSION, **state}
        atomic_write_text(self.path / CHECKPOINT_FILE, _dump(data), before_rename=before_rename)

    # -- steps -----------------------------------------------------------------------------
    def write_step(self, step: int, files: dict[str, str]) -> None:
        """Write one step folder whole: files into a temp folder, fsynced, renamed into place."""
        final = self.step_path(step)
        tmp = self.steps_path / f".tmp-{step:06d}-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        for rel, text in files.items():
            target = tmp / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(target, "w", encoding="utf-8") as fh:
                fh.write(text)
                sync_file(fh)
        if final.exists():  # debris of an interrupted attempt at this same step
            shutil.rmtree(final)
        os.replace(tmp, final)
        _fsync_dir(self.steps_path)

    def discard_uncommitted(self, committed: int) -> list[int]:
        """Remove step folders above the committed step and half-written temp files; return the
        numbers of the steps removed."""
        removed: list[int] = []
        for torn in self.path.glob(".*.tmp-*"):  # a checkpoint write cut short
            torn.unlink(missing_ok=True)
        if not self.steps_path.exists():
            return removed
        for child in sorted(self.steps_path.iterdir()):
            if child.name.startswith(".tmp-"):
                shutil.rmtree(child, ignore_errors=True)
            elif child.name.isdigit() and int(child.name) > committed:
                shutil.rmtree(child)
                removed.append(int(child.name))
        return removed

    def step_numbers(self) -> list[int]:
        """The committed steps on disk, in order (step 0 is the baseline)."""
        ckpt = self.read_checkpoint()
        last = -1 if ckpt is None else int(ckpt["step"])
        if not self.steps_path.exists():
            return []
        found = (int(c.name) for c in self.steps_path.iterdir() if c.name.isdigit())
        return sorted(s for s in found if s <= last)

    def read_step(self, step: int) -> StepFiles:
        """One committed step's record and parameters."""
        path = self.step_path(step)
        known = self.step_numbers()
        if step not in known:
            shown = f"{known[0]}..{known[-1]}" if known else "none yet"
            raise RunDirError(
                f"step {step} is not in the run at {self.path} (steps: {shown}). "
                "Fix: pick a step listed by `tracegraph inspect RUN_DIR`."
            )
        record = self._read_json(path / "step.json")
        params = self._read_json(path / "params.json")
        return StepFiles(step=step, record=record, params=params, path=path)

    def iter_steps(self) -> Iterator[StepFiles]:
        """Every committed step, in order."""
        for step in self.step_numbers():
            yield self.read_step(step)
