"""readout="query": one empty token after the inputs, the final answer read there."""

from __future__ import annotations

import pytest
import statebench.tasks as tasks
import torch
from task_cases import CONFIGS, config_id, valid_lengths
from test_sample_contract import check_against_reference


@pytest.mark.parametrize("name,options", CONFIGS, ids=[config_id(n, o) for n, o in CONFIGS])
def test_query_batch_matches_reference_and_last_readout(name, options):
    query = tasks.get_task(name, readout="query", **options)
    last = tasks.get_task(name, readout="last", **options)
    assert query.vocab_size == last.vocab_size + 1 == query.query_token + 1
    for length in valid_lengths(query, [query.min_length, 9, 10, 41]):
        q = query.sample(32, length, torch.Generator().manual_seed(3))
        ref = last.sample(32, length, torch.Generator().manual_seed(3))
        assert q.inputs.shape == (32, length + 1)
        assert (q.inputs[:, -1] == query.query_token).all()
        assert torch.equal(q.inputs[:, :-1], ref.inputs)  # same draw, then the query token
        assert q.mask[:, :-1].sum() == 0 and q.mask[:, -1].all()
        assert torch.equal(q.targets[:, -1], ref.targets[ref.mask])
        check_against_reference(query, q)


@pytest.mark.parametrize("name,options", [("parity", {}), ("cycle_navigation", {})])
def test_query_chance_equals_last_chance_at_the_appended_position(name, options):
    query = tasks.get_task(name, readout="query", **options)
    last = tasks.get_task(name, readout="last", **options)
    for length in (3, 8, 41):
        assert query.chance_at(length) == pytest.approx(last.chance_at(length))
        per_pos = query.position_chance(length)
        assert per_pos.shape == (length + 1,) and torch.isnan(per_pos[:-1]).all()
