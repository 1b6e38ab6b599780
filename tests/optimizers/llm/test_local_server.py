"""The shared local server's process management, with a stand-in backend instead of llama.cpp.

The server process here is the real ``python -m optimizers.llm.local.server_process`` (detach, state
file, leases, idle timeout, signals); only the model behind the HTTP port is replaced by
``_fake_llama_backend`` so these tests run in seconds without the weights.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from optimizers.llm.local.files import LocalServerError, pid_alive
from optimizers.llm.local.shared_server import LocalServer, ServerConfig, acquire_server

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
IDLE = 1.0  # seconds a server lives on without a lease in these tests


@pytest.fixture
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private server directory; any server still running at the end is stopped."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(HERE), str(ROOT)]))
    d = tmp_path / "srv"
    yield d
    state = _state(d)
    pid = int(str(state["pid"])) if state else 0
    if pid_alive(pid):
        os.kill(pid, signal.SIGKILL)


def _cfg(tmp: Path, **kw: object) -> ServerConfig:
    model = tmp / "m.gguf"
    model.write_bytes(b"GGUF")
    base: dict[str, object] = {
        "model_path": model,
        "model_id": "fake-id",
        "model": "fake-model",
        "idle_timeout": IDLE,
        "start_timeout": 20.0,
        "backend": "_fake_llama_backend:start",
    }
    return ServerConfig(**{**base, **kw})  # type: ignore[arg-type]


def _state(d: Path) -> dict[str, object] | None:
    try:
        return dict(json.loads((d / "state.json").read_text()))
    except OSError:
        return None


def _chat(server: LocalServer, key: str | None = None) -> tuple[int, str]:
    req = urllib.request.Request(
        f"{server.base_url}/v1/chat/completions",
        data=b'{"messages": []}',
        headers={"Authorization": f"Bearer {key or server.api_key}"},
    )
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            body = json.loads(resp.read())
            return resp.status, str(body["choices"][0]["message"]["content"])
    except urllib.error.HTTPError as exc:
        return exc.code, ""


def _wait_dead(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return True
        time.sleep(0.05)
    return False


def test_one_server_is_shared_and_needs_its_key(state_dir: Path, tmp_path: Path) -> None:
    cfg = _cfg(tmp_path)
    with acquire_server(cfg, state_dir) as first, acquire_server(cfg, state_dir) as second:
        assert first.started and not second.started
        assert first.pid == second.pid != os.getpid()
        assert _chat(second) == (200, f"served by pid {first.pid}")
        assert _chat(first, key="wrong")[0] == 401
        assert first.api_key not in repr(first)
        mode = stat.S_IMODE((state_dir / "state.json").stat().st_mode)
        assert mode == 0o600
        assert first.api_key not in (state_dir / "server.log").read_text()


def test_server_exits_after_the_idle_timeout(state_dir: Path, tmp_path: Path) -> None:
    server = acquire_server(_cfg(tmp_path), state_dir)
    time.sleep(IDLE * 2)  # held: must stay up past the idle timeout
    assert pid_alive(server.pid)
    server.release()
    assert _wait_dead(server.pid, IDLE + 10)
    assert _state(state_dir) is None


def test_stale_state_is_replaced(state_dir: Path, tmp_path: Path) -> None:
    cfg = _cfg(tmp_path)
    with acquire_server(cfg, state_dir) as old:
        os.kill(old.pid, signal.SIGKILL)  # dies without cleaning its state file
        assert _wait_dead(old.pid, 5)
        assert _state(state_dir) is not None
        with acquire_server(cfg, state_dir) as new:
            assert new.started and new.pid != old.pid
            assert _chat(new)[0] == 200


def test_a_live_stranger_named_in_the_state_file_is_not_killed(
    state_dir: Path, tmp_path: Path
) -> None:
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        state_dir.mkdir(parents=True)
        fake = {
            "format": 1,
            "pid": stranger.pid,
            "port": 9,
            "base_url": "http://127.0.0.1:9",
            "model_id": "fake-id",
            "api_key": "k" * 20,
        }
        (state_dir / "state.json").write_text(json.dumps(fake))
        with acquire_server(_cfg(tmp_path), state_dir) as server:
            assert server.started and server.pid != stranger.pid
        assert stranger.poll() is None  # not our server: left alone
    finally:
        stranger.kill()
        stranger.wait()


def test_a_failed_start_quotes_the_server_log(state_dir: Path, tmp_path: Path) -> None:
    cfg = _cfg(tmp_path, model_path=tmp_path / "fail.gguf")
    with pytest.raises(LocalServerError, match="fake load failure"):
        acquire_server(cfg, state_dir)
    assert list((state_dir / "leases").glob("*.lease")) == []


_HOLDER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from optimizers.llm.local.shared_server import ServerConfig, acquire_server
    cfg = ServerConfig(model_path=Path(sys.argv[2]), model_id="fake-id", model="fake-model",
                       idle_timeout=float(sys.argv[3]), backend="_fake_llama_backend:start")
    server = acquire_server(cfg, Path(sys.argv[1]))
    print(server.pid, server.started, flush=True)
    time.sleep(float(sys.argv[4]))
    """
)


def _holder(state_dir: Path, tmp_path: Path, hold: float) -> subprocess.Popen[str]:
    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF")
    argv = [sys.executable, "-c", _HOLDER, str(state_dir), str(model), str(IDLE), str(hold)]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)


def test_two_processes_share_one_server(state_dir: Path, tmp_path: Path) -> None:
    holders = [_holder(state_dir, tmp_path, hold=1.5) for _ in range(3)]
    lines = [h.communicate(timeout=30)[0].split() for h in holders]
    assert len({pid for pid, _ in lines}) == 1
    assert sorted(started for _, started in lines) == ["False", "False", "True"]


def test_killing_the_holder_does_not_orphan_the_server(state_dir: Path, tmp_path: Path) -> None:
    holder = _holder(state_dir, tmp_path, hold=60)
    assert holder.stdout is not None
    pid = int(holder.stdout.readline().split()[0])
    time.sleep(IDLE * 2)
    assert pid_alive(pid)  # the holder's lease keeps it up
    holder.kill()
    holder.wait()
    assert _wait_dead(pid, IDLE + 10)
    assert _state(state_dir) is None
    assert list((state_dir / "leases").glob("*.lease")) == []


def test_a_dropped_lease_is_released(state_dir: Path, tmp_path: Path) -> None:
    server = acquire_server(_cfg(tmp_path), state_dir)
    pid = server.pid
    assert len(list((state_dir / "leases").glob("*.lease"))) == 1
    del server
    assert list((state_dir / "leases").glob("*.lease")) == []
    assert _wait_dead(pid, IDLE + 10)
