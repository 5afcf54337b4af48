"""The harness: config, matrix, training, evaluation, store, executors, plots and the CLI."""

__version__ = "0.1.0"
