"""Critical-time probes: stream long sequences through trained cells and estimate t*.

Modules, one job each: `stream` (long eval streams with carried targets), `streaming`
(model.step over the stream, hits per position bin), `estimator` (t* and its bootstrap interval,
pure numpy), `measure` (one cell's probe rows), `progress` (what a probe run shows), `runner`
(train-or-load cells, probe them, store rows). The [probe] table is `bench.config.probe` and the
`statebench probe` command `bench.cli.probe`.
"""
