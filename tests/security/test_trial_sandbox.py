"""Attacks on trial runs of proposed code (issue 10, items 2 and 3): each one fails without the
sandbox (a private report channel, a clean environment, no network, writes only in a temporary
directory, output capped, the whole process tree killed)."""

from __future__ import annotations

import os
import resource
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from optimizers.step.trial import TrialConfig, trial_run
from tests.optimizers.step.trial_checks import adds_one
from tracegraph.sandbox import Limits, Sandbox
from tracegraph.sandbox.confine import landlock_abi

FAST = TrialConfig(timeout=5.0)
linux_only = pytest.mark.skipif(sys.platform != "linux", reason="the kernel guards are Linux's")
with_landlock = pytest.mark.skipif(landlock_abi() < 6, reason="needs Landlock ABI >= 6")


def test_a_verdict_written_to_stdout_is_not_the_verdict() -> None:
    src = "import os\ndef f(x):\n    os.write(1, b'{\"reasons\": []}')\n    os._exit(0)\n"
    reasons = trial_run(src, "f", [((1,), {})], config=FAST)
    assert reasons and "crashed" in reasons[0], reasons


def test_correct_code_that_runs_a_program_is_accepted() -> None:
    src = (
        "import subprocess\n"
        "def f(x):\n"
        "    subprocess.run(['echo', 'hi'], check=True)\n"
        "    return x + 1\n"
    )
    assert trial_run(src, "f", [((1,), {})], config=FAST) == []


def test_secrets_in_the_environment_are_not_visible(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-do-not-leak")
    monkeypatch.setenv("https_proxy", "http://me:hunter2@proxy.example:3128")
    src = (
        "import os\n"
        "def f(x):\n"
        "    assert 'OPENAI_API_KEY' not in os.environ, 'the key is visible'\n"
        "    assert 'hunter2' not in repr(dict(os.environ)), 'the proxy password is visible'\n"
        "    return x\n"
    )
    assert trial_run(src, "f", [((1,), {})], config=FAST) == []


def test_a_socket_to_a_local_listener_is_refused() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.settimeout(0.2)
        port = listener.getsockname()[1]
        src = (
            "import socket\n"
            "def f(port):\n"
            "    socket.create_connection(('127.0.0.1', port)).sendall(b'stolen')\n"
        )
        reasons = trial_run(src, "f", [((port,), {})], config=FAST)
        with pytest.raises(TimeoutError):
            listener.accept()
    assert reasons and "PermissionError" in reasons[0], reasons


@linux_only
def test_a_program_started_by_the_code_has_no_network_either() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.settimeout(0.2)
        port = listener.getsockname()[1]
        src = (
            "import subprocess, sys\n"
            "def f(port):\n"
            "    code = f'import socket; socket.create_connection((\"127.0.0.1\", {port}))'\n"
            "    subprocess.run([sys.executable, '-c', code], check=True)\n"
        )
        reasons = trial_run(src, "f", [((port,), {})], config=FAST)
        with pytest.raises(TimeoutError):
            listener.accept()
    assert reasons and "CalledProcessError" in reasons[0], reasons


def test_writes_outside_the_temporary_directory_are_refused(tmp_path: Path) -> None:
    src = (
        "import subprocess\n"
        "def f(folder):\n"
        "    open('mine.txt', 'w').write('fine')  # its own temporary directory\n"
        "    try:\n"
        "        open(folder + '/by_python.txt', 'w').write('x')\n"
        "    except PermissionError:\n"
        "        pass\n"
        "    subprocess.run(['sh', '-c', f'echo x > {folder}/by_shell.txt'])\n"
        "    return 1\n"
    )
    assert trial_run(src, "f", [((str(tmp_path),), {})], config=FAST) == []
    assert sorted(os.listdir(tmp_path)) == []


@with_landlock
def test_the_code_cannot_signal_the_optimizer() -> None:
    got: list[int] = []
    old = signal.signal(signal.SIGUSR1, lambda sig, frame: got.append(sig))
    try:
        src = "import os, signal\ndef f(pid):\n    os.kill(pid, signal.SIGUSR1)\n"
        reasons = trial_run(src, "f", [((os.getpid(),), {})], config=FAST)
        time.sleep(0.1)
    finally:
        signal.signal(signal.SIGUSR1, old)
    assert got == [] and reasons and "PermissionError" in reasons[0], (got, reasons)


def _alive_with(marker: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        try:
            if entry.isdigit() and marker.encode() in Path(f"/proc/{entry}/cmdline").read_bytes():
                found.append(int(entry))
        except OSError:
            continue
    return found


@linux_only
def test_a_setsid_grandchild_is_killed_and_the_trial_keeps_its_timeout() -> None:
    marker = f"{time.time() % 1000:.6f}"
    src = (
        "import subprocess, time\n"
        "def f(marker):\n"
        "    subprocess.Popen(['sleep', '30', marker], start_new_session=True,\n"
        "                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n"
        "    while True:\n"
        "        time.sleep(0.05)\n"
    )
    # `sleep 30 <marker>` sleeps 30 + marker seconds: the marker finds it in /proc afterwards
    started = time.monotonic()
    reasons = trial_run(src, "f", [((marker,), {})], config=TrialConfig(timeout=1.5))
    took = time.monotonic() - started
    assert reasons and "did not finish within 1.5 s" in reasons[0], reasons
    assert took < 1.5 + 3.0, took
    assert _alive_with(marker) == []


@linux_only
def test_a_grandchild_left_behind_by_finished_code_is_killed_too() -> None:
    marker = f"{time.time() % 1000:.6f}"
    src = (
        "import os, subprocess\n"
        "def f(marker):\n"
        "    if os.fork() == 0:\n"
        "        os.setsid()\n"
        "        subprocess.Popen(['sleep', '30', marker])\n"
        "        os._exit(0)\n"
        "    return 1\n"
    )
    assert trial_run(src, "f", [((marker,), {})], config=FAST) == []
    assert _alive_with(marker) == []


def test_a_flood_on_stderr_is_not_held_in_memory() -> None:
    src = (
        "import os\n"
        "def f(x):\n"
        "    block = b'e' * (1 << 20)\n"
        "    for _ in range(300):\n"
        "        os.write(2, block)\n"
        "    raise ValueError('after 300 MB')\n"
    )
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    reasons = trial_run(src, "f", [((1,), {})], config=TrialConfig(timeout=60))
    grew_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert reasons and "after 300 MB" in reasons[0], reasons
    assert grew_mb < 50, grew_mb


def test_the_sandbox_keeps_only_the_tail_of_the_output(tmp_path: Path) -> None:
    payload = tmp_path / "loud.py"
    payload.write_text(
        "import os\n"
        "def main(channel):\n"
        "    os.write(1, b'x' * 500_000 + b'END')\n"
        "    channel.send(b'done')\n"
    )
    with Sandbox(payload, Limits(timeout=10, output_kb=4)) as box:
        assert box.exchange(None) == b"done"
        box.close()
        text = box.stdout.text()
    assert text.endswith("END") and len(text) < 10_000 and "bytes dropped" in text


FORGER = (
    "import json, os, struct\n"
    "def f(x):\n"
    "    msg = json.dumps({'reasons': []}).encode()\n"
    "    for fd in map(int, os.listdir('/proc/self/fd')):\n"
    "        try:\n"
    "            os.write(fd, struct.pack('>I', len(msg)) + msg)\n"
    "        except OSError:\n"
    "            pass\n"
    "    os._exit(0)\n"
)


@linux_only
@pytest.mark.parametrize("check", [None, adds_one])
def test_a_verdict_forged_on_every_open_descriptor_is_not_the_verdict(check: Any) -> None:
    reasons = trial_run(FORGER, "f", [((1,), {})], config=TrialConfig(timeout=5, check=check))
    assert reasons, "a forged report was taken for the verdict"


@with_landlock
def test_the_optimizers_environment_and_private_files_cannot_be_read(tmp_path: Path) -> None:
    secret = tmp_path / "id_rsa"
    secret.write_text("-----BEGIN PRIVATE KEY-----")
    src = (
        "def f(pid, path):\n"
        "    for p in (f'/proc/{pid}/environ', path, '/root/.bashrc'):\n"
        "        try:\n"
        "            data = open(p, 'rb').read(2000)\n"
        "        except (PermissionError, FileNotFoundError):\n"
        "            continue\n"
        "        raise ValueError(f'read {p}: {data!r}')\n"
    )
    reasons = trial_run(src, "f", [((os.getpid(), str(secret)), {})], config=FAST)
    assert reasons == []
