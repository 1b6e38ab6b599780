"""The run directory: the single, human-readable source of truth of a training run.

Layout (format ``tracegraph-run``, version :data:`FORMAT_VERSION`; see docs/run_directory.md)::

    RUN_DIR/
      run.json              format marker, version, the trainer's configuration, how to rebuild it
      checkpoint.json       the commit point: replaced atomically after every step
      calls.jsonl           every model call (request, reply, usage), appended and fsynced
      steps/000000/         the baseline: the starting parameters scored on the validation set
      steps/000001/ ...     one folder per step, written whole then renamed into place
      run.lock              held (flock) by the one process running or resuming the run

A step folder whose number is above ``checkpoint.json``'s ``step`` is the debris of a step that
was interrupted; :meth:`RunDir.discard_uncommitted` removes it before that step is run again.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tracegraph.errors import PersistenceError

try:
    import fcntl
except ImportError:  # not on POSIX: runs are not locked (docs/security.md)
    fcntl = None  # type: ignore[assignment]

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
LOCK_FILE = "run.lock"
_OURS = {RUN_FILE, CHECKPOINT_FILE, JOURNAL_FILE, STEPS_DIR, LOCK_FILE}
_SQLITE = b"SQLite format 3\x00"
_SIDECARS = ("-wal", "-shm", "-journal")


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
        """Start a new run here; refuse a directory that already holds files (except the
        lock, and reply caches or cassettes the user keeps with the run)."""
        if self.path.exists():
            others = sorted(c.name for c in self.path.iterdir() if not _users_store(c))
            if others and others != [LOCK_FILE]:
                what = "a run" if self.exists() else f"other files ({', '.join(others[:5])})"
                raise RunDirError(
                    f"run directory {self.path} already holds {what}; expected an empty or "
                    "new folder (a reply cache or cassette of the run's clients may be there). "
                    "Fix: resume it with `tracegraph resume DIR` / Trainer.fit(resume=True), "
                    "or choose another run_dir."
                )
        self.steps_path.mkdir(parents=True, exist_ok=True)
        run = {"format": FORMAT, "version": FORMAT_VERSION, **to_jsonable(config)}
        atomic_write_text(self.path / RUN_FILE, _dump(run))

    @contextlib.contextmanager
    def lock(self, *, create: bool) -> Iterator[None]:
        """Hold the run's exclusive lock (``run.lock``, flock) while running or resuming it.

        A second process gets a :class:`RunDirError` naming the holder's pid at once. The
        kernel drops the lock when the holder exits, ``kill -9`` included.
        """
        if fcntl is None or (not create and not self.path.is_dir()):
            yield  # no locking here, or nothing to lock: read_run() says what is wrong
            return
        self.path.mkdir(parents=True, exist_ok=True)
        handle = open(self.path / LOCK_FILE, "a+", encoding="utf-8")  # noqa: SIM115
        try:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                handle.seek(0)
                holder = handle.read().strip() or "unknown"
                raise RunDirError(
                    f"run directory {self.path} is in use by another process ({holder}); two "
                    "processes on one run would pay its calls twice and overwrite each other. "
                    "Fix: wait for that process to end (or stop it), then resume."
                ) from None
            handle.seek(0)
            handle.truncate()
            since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            handle.write(f"pid {os.getpid()}, since {since}\n")
            handle.flush()
            yield
        finally:
            handle.close()  # closing releases the lock

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
        self,
        state: dict[str, Any],
        *,
        journal_seq: int | None = None,
        before_rename: Callable[[], None] | None = None,
    ) -> None:
        """Commit ``state`` as the new checkpoint (atomic: temp file, fsync, rename)."""
        data = {"format": "tracegraph-checkpoint", "version": FORMAT_VERSION, **state}
        if journal_seq is not None:
            data["journal_seq"] = journal_seq  # lets resume notice a shortened journal
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

    def verify(self, ckpt: dict[str, Any] | None) -> None:
        """Check that what the checkpoint committed is all on disk: every step folder up to its
        step, and the journal at least as long as it was when the checkpoint was written."""
        if ckpt is None:
            return
        step = ckpt.get("step")
        if not isinstance(step, int) or isinstance(step, bool) or step < 0:
            raise RunDirError(
                f"{self.path / CHECKPOINT_FILE} has step {step!r}; expected a whole number >= 0"
            )
        missing = [k for k in range(step + 1) if not self.step_path(k).is_dir()]
        if missing:
            shown = ", ".join(f"{k:06d}" for k in missing[:10])
            raise RunDirError(
                f"the run at {self.path} committed step {step}, but steps/{shown} "
                f"{'is' if len(missing) == 1 else 'are'} missing. The run directory was "
                "damaged; restore it from a copy, or start a new run."
            )
        wanted = ckpt.get("journal_seq")
        if isinstance(wanted, int) and wanted > self.journal_length():
            raise RunDirError(
                f"{self.journal_path} ends at call {self.journal_length()}, but the checkpoint "
                f"of step {step} was written after call {wanted}: the journal was shortened "
                "or replaced. Restore it from a copy, or start a new run."
            )

    def journal_length(self) -> int:
        """The highest call number (``seq``) in the journal (0 when it has none)."""
        last = 0
        if self.journal_path.exists():
            for line in self.journal_path.read_text(encoding="utf-8").splitlines():
                with contextlib.suppress(ValueError, TypeError, AttributeError):
                    last = max(last, int(json.loads(line).get("seq", 0)))
        return last

    def step_numbers_on_disk(self) -> list[int]:
        """Every step folder present, committed or not, in order."""
        if not self.steps_path.exists():
            return []
        return sorted(int(c.name) for c in self.steps_path.iterdir() if c.name.isdigit())

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
        for name, data in (("step.json", record), ("params.json", params)):
            if not isinstance(data, dict):
                raise RunDirError(f"{path / name} is damaged: expected a JSON object")
        return StepFiles(step=step, record=record, params=params, path=path)

    def iter_steps(self) -> Iterator[StepFiles]:
        """Every committed step, in order."""
        for step in self.step_numbers():
            yield self.read_step(step)


def _users_store(path: Path) -> bool:
    """A reply cache (SQLite, and its sidecar files) or a cassette (JSONL of recorded calls)
    that the user keeps in the run directory, e.g. ``OpenAIClient(cache=run_dir / "x.sqlite")``."""
    if path.name in _OURS or not path.is_file():
        return False
    for suffix in _SIDECARS:
        if path.name.endswith(suffix):
            return _users_store(path.with_name(path.name[: -len(suffix)]))
    with open(path, "rb") as fh:
        head = fh.read(len(_SQLITE))
    if head == _SQLITE:
        return True
    if path.suffix != ".jsonl":
        return False
    with contextlib.suppress(ValueError, TypeError, OSError):
        lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        return all({"key", "request", "reply"} <= set(json.loads(line)) for line in lines)
    return False
