"""The `emergent` command: thin wiring; each stage registers its own commands."""

from __future__ import annotations

import sys
import warnings

import typer

from emergent.errors import ConfigError, print_error
from emergent.extras import missing_extra_message

app = typer.Typer(
    help="Curate a diverse mixture, train one LoRA adapter through a curriculum, evaluate and report.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
data_app = typer.Typer(help="Ingest, curate, inspect and classify conversation data.", no_args_is_help=True)
app.add_typer(data_app, name="data")


def _register() -> None:
    from emergent import run_cli
    from emergent.curate import classify_cli
    from emergent.curate import cli as curate_cli
    from emergent.data import cli as data_cli
    from emergent.evaluate import cli as evaluate_cli
    from emergent.train import cli as train_cli

    data_cli.register(data_app)
    curate_cli.register(data_app)
    classify_cli.register(data_app)
    train_cli.register(app)
    evaluate_cli.register(app)
    run_cli.register(app)


_register()


def main() -> None:
    # peft reads transformers' deprecated `is_gradient_checkpointing` whenever it wraps a model: a
    # FutureWarning in every train, eval, chat and export that the user can do nothing about.
    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing", category=FutureWarning)
    try:
        app()
    except ConfigError as err:
        print_error(err, "config error")
        sys.exit(2)
    except ModuleNotFoundError as err:
        message = missing_extra_message(err)
        if message is None:
            raise
        print_error(message, "missing extra")
        sys.exit(2)
