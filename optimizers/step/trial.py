"""Trial runs of proposed code, in a separate process, before a code parameter is changed.

A proposal for a code parameter is applied only when

1. it parses, defines the same function (same name, not renamed, no decorators) at top level,
   with a signature that accepts every call the original accepted (:func:`static_problems`);
2. that function, called on the arguments it received in the trace, does not raise, hang or
   exhaust memory, and the user's own check (if any) passes (:func:`trial_run`).

Step 2 runs in the core's process sandbox (:mod:`tracegraph.sandbox`; the payload is
``optimizers/step/trial_child.py``, a stdlib-only script; no fork of the optimizer's state): a
fresh process in its own session, an environment without secrets, no network, writes only in a
temporary directory, limits on time, CPU, memory, file size and processes, its report on a
private pipe (never its stdout), its output read only up to a cap, and the whole process tree,
``setsid`` children included, killed when the trial ends or times out. What each guard does,
and the holes that remain, are in docs/security.md.

The user's check is a picklable callable (a module-level function) that receives a stand-in for
the candidate and raises (e.g. ``assert``), or returns ``False`` or a message, to reject. The
stand-in calls the candidate in a runner process apart from the one that writes the verdict
(``trial_child.py``), so the candidate cannot forge it; its results are plain data.
"""

from __future__ import annotations

import ast
import builtins
import json
import pickle
import symtable
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from optimizers.step.replay import Call, find_def, function_name, replayable, trial_calls
from tracegraph.node import Node, NodeKind
from tracegraph.sandbox import Limits, Sandbox, describe_status
from tracegraph.sandbox.isolated import globals_for

__all__ = [
    "TrialConfig",
    "TrialResult",
    "code_check",
    "code_trial",
    "returned",
    "static_problems",
    "trial_calls",
    "trial_run",
    "turns_into",
]


@dataclass(frozen=True)
class TrialConfig:
    """How proposed code is tried.

    Attributes:
        timeout: seconds for the whole trial (start, definition, every call, the user check).
        memory_mb: extra address space the child may allocate beyond its start-up size.
        max_calls: at most this many recorded calls are replayed.
        check: a picklable callable run in the sandbox on a stand-in for the candidate (it
            calls the candidate in another process; results are plain data); raise or return
            False/a message to reject (e.g. a function running unit tests).
    """

    timeout: float = 5.0
    memory_mb: int = 512
    max_calls: int = 5
    check: Callable[[Callable[..., Any]], Any] | None = None

    def limits(self) -> Limits:
        """The sandbox limits of a trial."""
        return Limits(timeout=self.timeout, memory_mb=self.memory_mb)


@dataclass(frozen=True)
class TrialResult:
    """What a trial found: why the code was rejected (empty: it passed), and, for the recorded
    calls given an expected result, how many returned it and how the others went wrong."""

    reasons: list[str]
    passed: int = 0
    failed: tuple[str, ...] = ()
    compared: tuple[int, ...] = ()  # the calls whose result was compared (indices)
    baseline: int = 0  # of those, how many the current code got right (see code_trial)


def _positional(a: ast.arguments) -> list[tuple[str, bool, bool]]:
    """(name, has_default, positional_only) for each positional parameter."""
    params = a.posonlyargs + a.args
    first_default = len(params) - len(a.defaults)
    n_posonly = len(a.posonlyargs)
    return [(p.arg, i >= first_default, i < n_posonly) for i, p in enumerate(params)]


def _signature_problems(old: ast.arguments, new: ast.arguments) -> list[str]:
    """Ways ``new`` rejects a call that ``old`` accepted."""
    out: list[str] = []
    old_pos, new_pos = _positional(old), _positional(new)
    for i, (name, had_default, was_posonly) in enumerate(old_pos):
        if i >= len(new_pos):
            if new.vararg is None:
                out.append(f"parameter {name!r} was removed")
            continue
        new_name, has_default, is_posonly = new_pos[i]
        if new_name != name:
            out.append(f"parameter {i + 1} must stay named {name!r}, not {new_name!r}")
        elif had_default and not has_default:
            out.append(f"parameter {name!r} must keep a default value")
        elif is_posonly and not was_posonly:
            out.append(f"parameter {name!r} must not become positional-only")
    for name, has_default, _ in new_pos[len(old_pos) :]:
        if not has_default:
            out.append(f"the new parameter {name!r} needs a default value")
    if old.vararg is not None and new.vararg is None:
        out.append(f"*{old.vararg.arg} was removed")
    if old.kwarg is not None and new.kwarg is None:
        out.append(f"**{old.kwarg.arg} was removed")
    new_kw = {a.arg: d is not None for a, d in zip(new.kwonlyargs, new.kw_defaults, strict=True)}
    old_kw = {a.arg: d is not None for a, d in zip(old.kwonlyargs, old.kw_defaults, strict=True)}
    for name, had_default in old_kw.items():
        if name not in new_kw and new.kwarg is None:
            out.append(f"keyword-only parameter {name!r} was removed")
        elif had_default and name in new_kw and not new_kw[name]:
            out.append(f"keyword-only parameter {name!r} must keep a default value")
    out += [
        f"the new keyword-only {n!r} needs a default"
        for n, d in new_kw.items()
        if not d and n not in old_kw
    ]
    return out


def static_problems(source: str, name: str, original: str) -> list[str]:
    """What is wrong with ``source`` as a replacement of function ``name`` in ``original``,
    without running anything.

    >>> static_problems("def g(x):\\n    return x", "f", "def f(x):\\n    return 1")
    ["the code must define the function 'f' at top level (do not rename it); it defines: g"]
    """
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        line = (exc.text or "").strip()
        return [f"the code does not parse: {exc.msg} at line {exc.lineno}: {line!r}"]
    node = find_def(tree, name)
    if node is None:
        found = [
            s.name for s in tree.body if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef))
        ]
        return [
            f"the code must define the function {name!r} at top level (do not rename it); "
            f"it defines: {', '.join(found) or 'no function'}"
        ]
    problems: list[str] = []
    if node.decorator_list:
        problems.append(f"remove the decorators above def {name}: give only the plain function")
    old = find_def(ast.parse(original), name)
    if old is None:  # nothing to compare with (the original could not be read)
        return problems
    if isinstance(old, ast.AsyncFunctionDef) != isinstance(node, ast.AsyncFunctionDef):
        kind = "async def" if isinstance(old, ast.AsyncFunctionDef) else "def"
        problems.append(f"{name} must stay a {kind} function")
    sig = _signature_problems(old.args, node.args)
    if sig:
        problems.append(
            f"the signature must stay compatible with def {name}({ast.unparse(old.args)}): "
            + "; ".join(sig)
        )
    return problems


#: The child's program: stdlib only, it never imports this package (a fast, clean start).
_CHILD = Path(__file__).with_name("trial_child.py")


def trial_run(
    source: str,
    name: str,
    calls: Sequence[Call] = (),
    *,
    config: TrialConfig | None = None,
    fn_globals: Mapping[str, Any] | None = None,
    outer: Collection[str] = (),
) -> list[str]:
    """Run ``source`` in a child process, call ``name`` on each of ``calls``; the reasons it failed.

    ``fn_globals`` are the original function's module globals (those the code names are sent:
    modules by name, other values pickled). A NameError for one of ``outer`` (globals and free
    variables the *original* function used) that could not be sent makes that call inconclusive
    rather than a rejection.

    Returns:
        An empty list when the definition, every call and the user's check succeeded.
    """
    return _trial(source, name, calls, {}, config, fn_globals, outer).reasons


def _trial(
    source: str,
    name: str,
    calls: Sequence[Call],
    expect: Mapping[int, Any],
    config: TrialConfig | None,
    fn_globals: Mapping[str, Any] | None,
    outer: Collection[str],
) -> TrialResult:
    """The trial; ``expect``: call index -> the result the feedback expects for that call."""
    config = config or TrialConfig()
    sendable: list[bytes] = []
    expected: dict[int, Any] = {}
    compared: list[int] = []  # indices into calls
    for i, call in enumerate(calls[: config.max_calls]):
        try:
            blob = pickle.dumps(call)
            if i in expect:
                pickle.dumps(expect[i])
        except Exception:  # an input we cannot send is not the proposal's fault
            continue
        if i in expect:
            expected[len(sendable)] = expect[i]
            compared.append(i)
        sendable.append(blob)
    job = {
        "source": source,
        "name": name,
        "calls": sendable,
        "expect": expected,
        "check": config.check,
        "memory": config.memory_mb * 2**20,
        "is_async": _is_async(source, name),
        "outer": sorted(outer),
        **globals_for(source, fn_globals or {}),
    }
    try:
        payload = pickle.dumps(job)
    except Exception as exc:
        return TrialResult([f"the trial could not be prepared ({type(exc).__name__}: {exc})"])
    return replace(_run_child(payload, config.limits(), name), compared=tuple(compared))


def _run_child(payload: bytes, limits: Limits, name: str) -> TrialResult:
    box = Sandbox(_CHILD, limits)
    try:
        box.start()
        reply = box.exchange(payload)
    except OverflowError as exc:
        return TrialResult([f"the trial of {name} failed: {exc}"])
    finally:
        status = box.close()
    if reply is None and box.timed_out:
        return TrialResult(
            [
                f"{name} did not finish within {limits.timeout:g} s on the traced inputs "
                "(an endless loop?)"
            ]
        )
    try:
        report = json.loads(reply or b"")
        reasons = [str(r) for r in report["reasons"]]
        failed = tuple(str(f) for f in report.get("failed", []))
        return TrialResult(reasons, int(report.get("passed", 0)), failed)
    except (ValueError, KeyError, TypeError):
        tail = box.stderr.text().strip()[-300:]
        why = describe_status(status)
        return TrialResult([f"the trial of {name} crashed ({why}){': ' + tail if tail else ''}"])


def code_check(
    code_param: Node, source: str, subgraph_nodes: Sequence[Node], config: TrialConfig
) -> list[str]:
    """Every check of a proposed source for ``code_param``: static first, then the trial run.

    ``subgraph_nodes`` are searched for the calls of the function (nodes whose
    ``code_param`` is this parameter); their recorded inputs are replayed.
    """
    return code_trial(code_param, source, subgraph_nodes, config).reasons


def code_trial(
    code_param: Node,
    source: str,
    subgraph_nodes: Sequence[Node],
    config: TrialConfig,
    expect: Sequence[tuple[Node, Any]] = (),
) -> TrialResult:
    """:func:`code_check`, and for the calls in ``expect`` (call node, the result the feedback
    expects) whether the proposal returns that result (those calls are replayed first)."""
    original = code_param.peek()
    name = function_name(original, code_param) or code_param.name
    problems = static_problems(source, name, original)
    if problems:
        return TrialResult(problems)
    wanted = {id(n): want for n, want in expect}
    calls = [
        n
        for n in subgraph_nodes
        if n.kind in (NodeKind.CALL, NodeKind.EXCEPTION) and n.code_param is code_param
    ]
    calls.sort(key=lambda n: id(n) not in wanted)  # stable: the expected ones first
    replay = replayable(code_param, calls, original, name)
    at = {i: wanted[id(n)] for i, (n, _) in enumerate(replay) if id(n) in wanted}
    fn_globals = _fn_globals(code_param)
    outer = _outer_names(original)
    result = _trial(source, name, [c for _, c in replay], at, config, fn_globals, outer)
    right = sum(returned(replay[i][0], at[i]) for i in result.compared)
    return replace(result, baseline=right)


def turns_into(code_param: Node, arg: Any, want: Any, config: TrialConfig) -> bool:
    """Whether the code parameter's current function, called on ``arg`` alone, returns ``want``
    (run as a trial, in the sandbox: the code may be the model's)."""
    source = str(code_param.peek())
    name = function_name(source, code_param) or code_param.name
    fn_globals, outer = _fn_globals(code_param), _outer_names(source)
    result = _trial(source, name, [((arg,), {})], {0: want}, config, fn_globals, outer)
    return not result.reasons and result.compared == (0,) and result.passed == 1


def _is_async(source: str, name: str) -> bool:
    try:
        return isinstance(find_def(ast.parse(source), name), ast.AsyncFunctionDef)
    except SyntaxError:
        return False


def _outer_names(source: str) -> set[str]:
    """Names the functions in ``source`` take from outside (globals and free variables)."""
    try:
        table = symtable.symtable(source, "<original>", "exec")
    except SyntaxError:
        return set()
    out: set[str] = set()
    for child in table.get_children():
        if isinstance(child, symtable.Function):
            out.update(child.get_globals(), child.get_frees())
    return out - set(dir(builtins))


def _fn_globals(code_param: Node) -> Mapping[str, Any]:
    """The globals the original function ran with, when the code parameter records them."""
    given = code_param.meta.get("globals")
    if isinstance(given, Mapping):
        return given
    fn = code_param.meta.get("function")
    return getattr(fn, "__globals__", {}) or {}


def returned(call: Node, want: Any) -> bool:
    """Whether a recorded call returned ``want``: the current code's side of the comparison the
    trial's judge makes for a proposal (``==`` on the values)."""
    try:
        return call.kind is NodeKind.CALL and bool(call.peek() == want)
    except Exception:
        return False
