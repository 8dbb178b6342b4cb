"""The typer application, shared console and the one error boundary of the CLI."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from caloforge._version import __version__
from caloforge.cli._interrupt import (
    Interrupted,
    exit_at_signal,
    interrupt_message,
    interruptible,
    raised,
)

app = typer.Typer(
    name="caloforge",
    help=(
        "Machine-learning fast simulation of calorimeter showers: "
        "simulate | train | calibrate | refine | generate | evaluate | bench | export | tune."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
console = Console()
err_console = Console(stderr=True)

USER_ERRORS: tuple[type[BaseException], ...] = (
    ValueError,
    KeyError,
    FileExistsError,
    FileNotFoundError,
    ImportError,
    PermissionError,
)
"""Exceptions that report bad input or a missing extra: printed as one line, exit code 2."""


def _version(value: bool) -> None:
    if value:
        console.print(f"caloforge {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version."
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log debug messages."),
) -> None:
    """caloforge command-line interface."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )


def _error(message: str) -> None:
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)


def fail(message: str) -> NoReturn:
    """Print one error line and exit with code 2."""
    _error(message)
    raise typer.Exit(2)


def at_least(minimum: int) -> Callable[[typer.CallbackParam, int | None], int | None]:
    """Option callback refusing a count below ``minimum`` in one ``error:`` line naming the
    option, before any work starts (``-n 0``, ``--workers 0``, ``--batch-size -1``)."""

    def check(param: typer.CallbackParam, value: int | None) -> int | None:
        if value is not None and value < minimum:
            name = max(param.opts, key=len) if param.opts else str(param.name)
            raise ValueError(f"{name} {value}: must be at least {minimum}")
        return value

    return check


def _message(exc: BaseException) -> str:
    if isinstance(exc, KeyError) and exc.args:
        return str(exc.args[0])
    return str(exc) or type(exc).__name__


def _click_exception() -> type[Exception]:
    """click's ``ClickException``, wherever this typer takes click from (the ``click``
    package, or its own copy in newer versions): the base of ``typer.BadParameter``."""
    return next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")


def _usage_error(exc: Exception) -> None:
    """click's usage line (when known) and one error line naming the help option."""
    if type(exc).__name__ == "NoArgsIsHelpError":  # a group run without arguments
        show = getattr(exc, "show", None)
        if callable(show):
            show()  # the help (already printed by typer's rich help formatter)
        return
    ctx = getattr(exc, "ctx", None)
    format_message = getattr(exc, "format_message", None)
    message = format_message() if callable(format_message) else _message(exc)
    if ctx is not None:
        err_console.print(escape(ctx.get_usage()), highlight=False, soft_wrap=True)
        if ctx.help_option_names:
            end = "" if message.endswith((".", "?", "!")) else "."
            message += f"{end} Try '{ctx.command_path} {ctx.help_option_names[0]}' for help."
    _error(message)


def _interrupted(exc: Interrupted | None) -> None:
    """Print the one line of an interrupted command and exit with 128 + signal."""
    if exc is not None:
        from caloforge.files import abandon

        abandon()  # temporary and lock files a signal caught in their bookkeeping
        err_console.print(escape(interrupt_message(exc)), highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)


def main() -> None:
    """Console-script entry point and the one error boundary of the CLI.

    Exit codes: 0 success; 1 internal error (a traceback, a bug to report); 2 usage
    error or bad input (one ``error:`` line, after click's usage line for usage errors);
    130 / 143 interrupted by SIGINT / SIGTERM (one line saying what is kept).
    """
    click_exception = _click_exception()
    try:
        with interruptible():
            code = app(standalone_mode=False)
    except Interrupted as exc:
        _interrupted(exc)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except BaseException as exc:
        # A signal that lands in C code (an h5py callback, a library's lock) can surface as
        # another exception (SystemError, a click Abort): the interruption is what happened.
        _interrupted(raised())
        if isinstance(exc, typer.Abort):  # older click turns a KeyboardInterrupt into Abort
            err_console.print("aborted")
            sys.exit(1)
        if isinstance(exc, USER_ERRORS):
            _error(_message(exc))
            sys.exit(2)
        if isinstance(exc, click_exception):  # usage errors: missing, unknown, badly typed
            _usage_error(exc)
            sys.exit(2)
        raise
    # typer turns a KeyboardInterrupt into the code 130; without standalone mode, click
    # returns the code of a ``typer.Exit`` instead of raising it
    _interrupted(raised())
    code = code if isinstance(code, int) else 0
    exit_at_signal(code)
    sys.exit(code)
