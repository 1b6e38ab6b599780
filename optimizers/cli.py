"""The ``tracegraph`` command: run, resume and look into training runs.

::

    tracegraph run SCRIPT_OR_CONFIG [--run-dir DIR] [--quiet]
    tracegraph resume RUN_DIR [--allow-code] [--quiet]
    tracegraph inspect RUN_DIR
    tracegraph diff RUN_DIR A B          (steps by number, or first / best / last)
    tracegraph graph RUN_DIR STEP [--format svg|png|pdf] [--out FILE]
    tracegraph report RUN_DIR [--out FILE]
    tracegraph view RUN_DIR [--port N] [--host H] [--no-open]

See docs/run_directory.md for what a run directory holds, and ``optimizers.trainer.loader``
for how a script or config describes a run.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar, cast

import typer

from optimizers.trainer.rundir import RunDir, RunDirError
from tracegraph.errors import TracegraphError

__all__ = ["app", "main"]

app = typer.Typer(
    name="tracegraph",
    help="Train LLM workflows and look into their runs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

RunDirArg = Annotated[Path, typer.Argument(help="a run directory written by a Trainer")]
DOT_HELP = (
    "graphviz's `dot` program is not installed, so no picture was drawn. Install it with "
    "`apt-get install graphviz` (Debian/Ubuntu), `brew install graphviz` (macOS) or "
    "`bash scripts/install_dot.sh`, then run this command again; or open the .dot file with "
    "any Graphviz viewer."
)


def _fail(exc: Exception) -> typer.Exit:
    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(code=2)


#: What reading a damaged file raises before our checks see it (a field of the wrong type...).
_DAMAGE = (ValueError, TypeError, KeyError, AttributeError, IndexError)
F = TypeVar("F", bound=Callable[..., None])


def _errors(reads: bool) -> Callable[[F], F]:
    """Every error of a command as ``error: ...`` and exit status 2, never a traceback.

    ``reads``: the command only reads a run directory, so any exception is damage in it. Run
    and resume also run the user's code, whose own bugs keep their traceback.
    """

    def wrap(command: F) -> F:
        @functools.wraps(command)
        def guarded(*args: Any, **kwargs: Any) -> None:
            try:
                command(*args, **kwargs)
            except TracegraphError as exc:
                raise _fail(exc) from None
            except OSError as exc:  # a file that cannot be read or written, a port in use
                if not reads:
                    raise
                raise _fail(exc) from None
            except _DAMAGE as exc:
                if not reads:
                    raise
                where = kwargs.get("run_dir", "the run directory")
                raise _fail(
                    RunDirError(
                        f"{where} is damaged: {type(exc).__name__}: {exc}. Fix: restore the "
                        "damaged file from a copy (every file is JSON; docs/run_directory.md)"
                    )
                ) from None

        return cast(F, guarded)

    return wrap


def _open(path: Path) -> RunDir:
    """The run directory at ``path``, after checking that what it committed is all there."""
    rundir = RunDir(path)
    rundir.verify(rundir.read_checkpoint())
    return rundir


def _fit(trainer: object, *, resume: bool, allow_code: bool = False) -> None:
    from optimizers.trainer.trainer import Trainer

    assert isinstance(trainer, Trainer)
    result = trainer.fit(resume=resume, allow_code=allow_code)
    best = "–" if result.best_score is None else f"{result.best_score:.4g}"
    typer.echo(
        f"{result.status}: {result.reason}. {result.steps} steps, best score {best} at step "
        f"{result.best_step}; {result.usage.calls} model calls, ${result.usage.cost:.4f}. "
        f"Run directory: {result.run_dir}"
    )
    if result.run_dir is not None and trainer.quiet:  # else the progress view said it
        report = result.run_dir / "report.html"
        shown = f"; report: {report}" if report.exists() else ""
        typer.echo(f"look into it: tracegraph view {result.run_dir}{shown}")


@app.command()
@_errors(reads=False)
def run(
    script_or_config: Annotated[
        Path, typer.Argument(help="a .py with make_trainer(), or a .toml/.json config")
    ],
    run_dir: Annotated[
        Path | None, typer.Option("--run-dir", help="where to record the run")
    ] = None,
    factory: Annotated[str | None, typer.Option(help="the factory function's name")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress bar")] = False,
) -> None:
    """Start a training run."""
    from optimizers.trainer.loader import make_trainer, source_of

    try:
        source = source_of(script_or_config, factory)
        trainer = make_trainer(source, run_dir=run_dir, quiet=quiet or None)
        if trainer.rundir is not None:
            typer.echo(f"recording the run in {trainer.rundir.path}", err=True)
        _fit(trainer, resume=False)
    except TracegraphError as exc:
        raise _fail(exc) from None


@app.command()
@_errors(reads=False)
def resume(
    run_dir: RunDirArg,
    allow_code: Annotated[
        bool,
        typer.Option(
            "--allow-code",
            help="load code parameters from the checkpoint (they run at the next call)",
        ),
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress bar")] = False,
) -> None:
    """Continue a stopped, crashed or killed run from its last checkpoint."""
    from optimizers.trainer.loader import make_trainer

    rundir = _open(run_dir)
    source = rundir.read_run().get("source")
    if not source:
        raise _fail(
            RunDirError(
                f"{run_dir} was not started from the command line, so it does not say how to "
                "rebuild its trainer. Fix: call Trainer(..., run_dir=...).fit(resume=True) "
                "from the script that made it"
            )
        )
    try:
        trainer = make_trainer(source, run_dir=run_dir, quiet=quiet or None)
        _fit(trainer, resume=True, allow_code=allow_code)
    except TracegraphError as exc:
        raise _fail(exc) from None


@app.command()
@_errors(reads=True)
def inspect(run_dir: RunDirArg) -> None:
    """A table of the steps: scores, accepted or rejected, calls and cost."""
    from rich.console import Console
    from rich.table import Table

    from optimizers.trainer.views import step_rows

    rundir = _open(run_dir)
    ckpt = rundir.read_checkpoint()
    if ckpt is None:
        typer.echo(f"{run_dir}: no step committed yet (the run stopped before its baseline)")
        return
    table = Table(title=f"{run_dir} — {ckpt.get('status')}: {ckpt.get('reason', '')}")
    for col in ("step", "epoch", "train", "val", "± se", "best", "decision", "applied",
                "rejected", "calls", "cost $", "note"):  # fmt: skip
        table.add_column(col, justify="left" if col in ("decision", "note") else "right")
    for r in step_rows(rundir):
        table.add_row(
            str(r.step), "" if r.epoch is None else str(r.epoch), _num(r.train_score),
            _num(r.val_score), _num(r.val_stderr), _num(r.best_score), r.verdict,
            str(r.applied), str(r.rejected), str(r.calls), f"{r.cost:.4f}", r.note,
        )  # fmt: skip
    Console(width=160).print(table)
    typer.echo(f"best: step {ckpt.get('best_step')} with score {_num(ckpt.get('best_score'))}")


def _num(value: float | None) -> str:
    return "–" if value is None else f"{value:.4g}"


@app.command()
@_errors(reads=True)
def diff(
    run_dir: RunDirArg,
    a: Annotated[str, typer.Argument(help="a step: a number, first, best or last")],
    b: Annotated[str, typer.Argument(help="another step")],
) -> None:
    """What changed in each parameter between two steps, as unified diffs."""
    from optimizers.trainer.views import diff_values, resolve_step

    rundir = _open(run_dir)
    try:
        sa, sb = resolve_step(rundir, a), resolve_step(rundir, b)
        pa, pb = rundir.read_step(sa).params, rundir.read_step(sb).params
    except RunDirError as exc:
        raise _fail(exc) from None
    for name in sorted(set(pa) | set(pb)):
        text = diff_values(name, pa.get(name), pb.get(name), str(sa), str(sb))
        typer.echo(text.rstrip("\n") if text else f"{name}: unchanged between steps {sa} and {sb}")


@app.command()
@_errors(reads=True)
def graph(
    run_dir: RunDirArg,
    step: Annotated[str, typer.Argument(help="a step: a number, first, best or last")],
    format: Annotated[str, typer.Option(help="svg, png or pdf")] = "svg",
    out: Annotated[Path | None, typer.Option(help="where to write the picture")] = None,
) -> None:
    """Draw the trace graph of one step (needs graphviz's `dot`)."""
    from optimizers.trainer.views import resolve_step

    rundir = _open(run_dir)
    try:
        number = resolve_step(rundir, step)
        files = rundir.read_step(number)
    except RunDirError as exc:
        raise _fail(exc) from None
    source = files.path / "trace.dot"
    if not source.exists():
        raise _fail(RunDirError(f"step {number} has no trace.dot (nothing was traced)"))
    dot = shutil.which("dot")
    if dot is None:
        typer.echo(f"the trace of step {number} is {source}", err=False)
        typer.echo(DOT_HELP, err=True)
        return
    target = out or source.with_suffix(f".{format}")
    done = subprocess.run(
        [dot, f"-T{format}", str(source), "-o", str(target)], capture_output=True, text=True
    )
    if done.returncode != 0:
        raise _fail(TracegraphError(f"dot failed on {source}: {done.stderr.strip()}"))
    typer.echo(str(target))


@app.command()
@_errors(reads=True)
def report(
    run_dir: RunDirArg,
    out: Annotated[
        Path | None, typer.Option(help="the HTML file (default RUN_DIR/report.html)")
    ] = None,
) -> None:
    """Write one self-contained HTML report of the run."""
    from optimizers.trainer.report import write_report

    rundir = _open(run_dir)
    if rundir.read_checkpoint() is None:
        raise _fail(RunDirError(f"{run_dir} has no committed step yet: nothing to report"))
    for _ in rundir.iter_steps():  # a damaged step is an error, not a hole in the report
        pass
    typer.echo(str(write_report(rundir, out)))


@app.command()
@_errors(reads=True)
def view(
    run_dir: Annotated[Path, typer.Argument(help="a run directory, or a folder holding runs")],
    port: Annotated[int, typer.Option(help="the port to serve on")] = 8765,
    host: Annotated[
        str, typer.Option(help="the address to bind (default: this machine only)")
    ] = "127.0.0.1",
    no_open: Annotated[bool, typer.Option("--no-open", help="do not open a browser")] = False,
) -> None:
    """Watch a run (or every run in a folder) live in the browser."""
    if not run_dir.is_dir():
        raise _fail(RunDirError(f"no directory at {run_dir}. Fix: pass a run directory"))
    try:
        from optimizers.view.server import serve
    except ImportError as exc:
        raise _fail(
            TracegraphError(
                f"the viewer needs the `view` extra ({exc.name} is missing). "
                "Fix: pip install 'tracegraph[view]'"
            )
        ) from None
    serve(run_dir, host=host, port=port, open_browser=not no_open)


def main() -> None:
    """Console entry point."""
    app(prog_name="tracegraph")


if __name__ == "__main__":  # python -m optimizers.cli
    main()
