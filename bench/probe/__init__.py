"""Critical-time probes: stream long sequences through trained cells and estimate t*.

Modules, one job each: `config` (the [probe] table), `stream` (long eval streams with carried
targets), `streaming` (model.step over the stream, hits per position bin), `estimator` (t* and
its bootstrap interval, pure numpy), `runner` (train-or-load cells, probe them, store rows),
`cli` (the `statebench probe` command). This file imports none of them, so `bench.config` can
import `bench.probe.config` without pulling in torch.
"""
