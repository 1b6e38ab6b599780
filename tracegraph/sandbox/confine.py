"""Confining the current process before untrusted code runs in it (stdlib only).

Run inside the sandbox's child (``guard.py`` loads this file by path, so the child never imports
the ``tracegraph`` package). Each layer returns whether it took effect; the child reports the
list, so a test or a user can see which guards held on this machine:

* ``limits``: ``setrlimit`` on address space, CPU time, file size, processes and core dumps.
* ``landlock``: the kernel's Landlock LSM (Linux >= 5.13, unprivileged). Writes are allowed only
  beneath the temporary directory (and to ``/dev/null``); reads and execution only beneath the
  system's folders, Python's and the ones on ``sys.path`` (:func:`readable_paths`: not the home
  directory, not /tmp, not other processes' /proc entries); TCP bind/connect are denied (ABI >= 4);
  signals and abstract UNIX sockets cannot reach processes outside the sandbox (ABI >= 6), and
  ptrace of an outside process is denied. Inherited by every descendant, exec'd programs too.
* ``seccomp``: a BPF filter that makes ``socket()``, ``io_uring_setup()`` and ``ptrace()`` fail
  with EPERM (x86-64 and arm64). Inherited by every descendant; cannot be removed.
* ``audit``: a Python audit hook in this interpreter refusing sockets other than AF_UNIX and any
  open-for-writing, remove, rename, mkdir, chmod... outside the temporary directory. This is the
  only layer off Linux, and it binds only Python code in this process: ctypes, a C extension or
  a program started with ``subprocess`` are not bound by it (the kernel layers are there for
  that).
"""

from __future__ import annotations

import ctypes
import os
import platform
import socket
import struct
import sys
from collections.abc import Callable
from typing import Any

__all__ = [
    "audit_hook", "landlock", "landlock_abi", "no_new_privs", "readable_paths",
    "seccomp_no_network", "set_limits",
]  # fmt: skip

_PR_SET_NO_NEW_PRIVS = 38
_PR_SET_SECCOMP = 22
_SECCOMP_MODE_FILTER = 2


def _libc() -> Any:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    return libc


def _user_tasks() -> int:
    """Threads the real user runs now (RLIMIT_NPROC counts them, not only this sandbox's)."""
    uid, count = os.getuid(), 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status", encoding="ascii", errors="replace") as f:
                fields = dict(line.split(":", 1) for line in f if ":" in line)
            if int(fields["Uid"].split()[0]) == uid:
                count += int(fields["Threads"])
        except (OSError, KeyError, ValueError):
            continue
    return count


def set_limits(memory: int, cpu: int, file_size: int, processes: int) -> bool:
    """Cap address space (current size + ``memory`` bytes), CPU seconds, file size, processes.

    The process limit is counted above what the user already runs (RLIMIT_NPROC is per user);
    the kernel does not apply it to root.
    """
    try:
        import resource

        with open("/proc/self/statm") as f:
            size = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        resource.setrlimit(resource.RLIMIT_AS, (size + memory, size + memory))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
        resource.setrlimit(resource.RLIMIT_FSIZE, (file_size, file_size))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        nproc = _user_tasks() + processes
        resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
        return True
    except (ImportError, OSError, ValueError):  # not Linux: the parent's timeout still holds
        return False


def no_new_privs() -> bool:
    """PR_SET_NO_NEW_PRIVS: needed by both kernel layers; setuid programs lose their power."""
    try:
        return bool(_libc().prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


# -- Landlock ------------------------------------------------------------------------------------
_LL_CREATE, _LL_ADD, _LL_RESTRICT = 444, 445, 446  # the same numbers on x86-64 and arm64
_WRITE_FILE, _TRUNCATE = 1 << 1, 1 << 14
_WRITES_V1 = sum(1 << b for b in (1, 4, 5, 6, 7, 8, 9, 10, 11, 12))  # write, remove, make_*
_REFER = 1 << 13


def landlock_abi() -> int:
    """The Landlock ABI version this kernel offers (0: none)."""
    if sys.platform != "linux" or platform.machine() not in ("x86_64", "aarch64"):
        return 0
    return max(0, int(_libc().syscall(_LL_CREATE, None, 0, 1)))  # ..._CREATE_RULESET_VERSION


def landlock(writable_dir: str, readable: list[str] | None = None) -> bool:
    """Allow writes only beneath ``writable_dir`` (and /dev/null), reads and execution only
    beneath ``readable`` (when given) and ``writable_dir``; no TCP; scoped signals."""
    abi = landlock_abi()
    if abi < 1:
        return False
    libc = _libc()
    fs = _WRITES_V1 | (_REFER if abi >= 2 else 0) | (_TRUNCATE if abi >= 3 else 0)
    reads = _READS if readable is not None else 0
    net = 0b11 if abi >= 4 else 0  # bind and connect TCP, with no rule allowing either
    scoped = 0b11 if abi >= 6 else 0  # abstract UNIX sockets and signals
    attr = struct.pack("=QQQ", fs | reads, net, scoped)[: 8 if abi < 4 else 16 if abi < 6 else 24]
    buf = ctypes.create_string_buffer(attr, len(attr))
    ruleset = libc.syscall(_LL_CREATE, buf, len(attr), 0)
    if ruleset < 0:
        return False
    try:
        file_rights = _WRITE_FILE | (_TRUNCATE if abi >= 3 else 0)
        rules = [(writable_dir, fs | reads), (os.devnull, file_rights | (reads & _FILE_READS))]
        rules += [(path, reads) for path in readable or ()]
        for path, rights in rules:
            if not _add_rule(libc, ruleset, path, rights):
                return False
        return bool(libc.syscall(_LL_RESTRICT, ruleset, 0) == 0)
    finally:
        os.close(ruleset)


_FILE_READS = 1 << 0 | 1 << 2  # execute, read_file: the rights a rule on a file may hold
_READS = _FILE_READS | 1 << 3  # and read_dir


def _add_rule(libc: Any, ruleset: int, path: str, rights: int) -> bool:
    """One path-beneath rule; a path that does not exist is skipped."""
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return True
    try:
        if not os.path.isdir(path):
            rights &= _FILE_READS | _WRITE_FILE | _TRUNCATE
        rule = ctypes.create_string_buffer(struct.pack("=Qi", rights, fd), 12)
        return bool(libc.syscall(_LL_ADD, ruleset, 1, rule, 0) == 0)  # PATH_BENEATH
    finally:
        os.close(fd)


#: What sandboxed code may read besides Python's own folders and the temporary directory:
#: the system's programs and libraries and its configuration. Not /home, /root, /tmp, or
#: /proc (the environment of other processes, the optimizer's API keys included, lives there).
SYSTEM_READABLE = ("/usr", "/lib", "/lib32", "/lib64", "/bin", "/sbin", "/etc", "/dev/urandom",
                   "/dev/zero", "/dev/random")  # fmt: skip


def readable_paths(extra: list[str]) -> list[str]:
    """The folders sandboxed code may read: the system's, Python's, ``extra`` (sys.path...)."""
    found = [*SYSTEM_READABLE, sys.prefix, sys.base_prefix, sys.exec_prefix]
    found.append(os.path.dirname(os.path.realpath(sys.executable)))
    found.append(os.path.dirname(sys.executable))
    found += [p for p in extra if p]
    found.append(f"/proc/{os.getpid()}")  # its own /proc entry only
    return list(dict.fromkeys(found))


# -- seccomp -------------------------------------------------------------------------------------
#: arch -> (AUDIT_ARCH value, syscall numbers denied: socket, io_uring_setup, ptrace)
_ARCH = {
    "x86_64": (0xC000003E, (41, 425, 101)),
    "aarch64": (0xC00000B7, (198, 425, 117)),
}


def seccomp_no_network() -> bool:
    """Make socket(), io_uring_setup() and ptrace() fail with EPERM, here and in descendants."""
    found = _ARCH.get(platform.machine()) if sys.platform == "linux" else None
    if found is None:
        return False
    arch, denied = found
    deny, allow = 0x00050000 | 1, 0x7FFF0000  # SECCOMP_RET_ERRNO | EPERM, SECCOMP_RET_ALLOW
    n = len(denied)
    # ld arch; jne -> deny; ld nr; jge 0x40000000 (x32) -> deny; jeq each -> deny; allow; deny
    prog = [(0x20, 0, 0, 4), (0x15, 0, n + 3, arch), (0x20, 0, 0, 0), (0x35, n + 1, 0, 1 << 30)]
    prog += [(0x15, n - i, 0, nr) for i, nr in enumerate(denied)]
    prog += [(0x06, 0, 0, allow), (0x06, 0, 0, deny)]
    raw = b"".join(struct.pack("=HBBI", *ins) for ins in prog)
    filt = ctypes.create_string_buffer(raw, len(raw))

    class Prog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    fprog = Prog(len(prog), ctypes.cast(filt, ctypes.c_void_p))
    try:
        return bool(_libc().prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(fprog)) == 0)
    except (OSError, AttributeError):
        return False


# -- the Python audit hook -----------------------------------------------------------------------
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
_PATH_EVENTS = {
    "os.remove": 1, "os.rmdir": 1, "os.mkdir": 1, "os.rename": 2, "os.link": 2,
    "os.symlink": 2, "os.truncate": 1, "os.chmod": 1, "os.chown": 1, "os.utime": 1,
    "os.mkfifo": 1, "os.mknod": 1, "shutil.rmtree": 1, "shutil.copyfile": 2,
}  # fmt: skip


def audit_hook(writable_dir: str) -> Callable[[str, tuple[Any, ...]], None]:
    """A hook refusing network sockets and writes outside ``writable_dir`` (install it with
    ``sys.addaudithook``; it cannot be removed afterwards)."""
    root = os.path.realpath(writable_dir)
    allowed = {os.path.realpath(os.devnull)}

    def inside(path: Any) -> bool:
        if isinstance(path, int) or path is None:
            return True  # an open descriptor: where it points was checked when it was opened
        real = os.path.realpath(os.fsdecode(path))
        return real == root or real.startswith(root + os.sep) or real in allowed

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if event == "socket.__new__" and len(args) > 1 and args[1] != socket.AF_UNIX:
            raise PermissionError("the sandbox allows no network (sockets other than AF_UNIX)")
        if event == "open" and len(args) == 3:
            path, mode, flags = args
            writing = any(c in (mode or "") for c in "wax+") or bool((flags or 0) & _WRITE_FLAGS)
            if writing and not inside(path):
                raise PermissionError(f"the sandbox allows writes only in {root}, not {path!r}")
        elif event in _PATH_EVENTS:
            for path in args[: _PATH_EVENTS[event]]:
                if not inside(path):
                    raise PermissionError(f"the sandbox allows changes only in {root}: {path!r}")

    return hook
