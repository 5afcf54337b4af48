"""Analysis: from stored rows to the numbers every table and figure agree on.

Headline and protocol scores, seed intervals, power-law fits and best-configuration selection
live here; `bench.plots` and `bench.report` import them and never the other way round.
"""
