"""The harness: config, matrix, training, evaluation, store, executors, plots and the CLI."""
