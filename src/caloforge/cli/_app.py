"""The typer application, shared console and the one error boundary of the CLI."""

from __future__ import annotations

import logging
import sys
from typing import NoReturn

import typer
from rich.console import Console

from caloforge._version import __version__

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


def fail(message: str) -> NoReturn:
    """Print one error line and exit with code 2."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(2)


def _message(exc: BaseException) -> str:
    if isinstance(exc, KeyError) and exc.args:
        return str(exc.args[0])
    return str(exc) or type(exc).__name__


def main() -> None:
    """Console-script entry point: run the app, turning user errors into one line."""
    try:
        app(standalone_mode=False)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        err_console.print("aborted")
        sys.exit(130)
    except KeyboardInterrupt:
        err_console.print(
            "interrupted: outputs written so far are kept; rerun the same command to resume"
        )
        sys.exit(130)
    except USER_ERRORS as exc:
        err_console.print(f"[bold red]error:[/] {_message(exc)}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except Exception as exc:  # click usage errors
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise
