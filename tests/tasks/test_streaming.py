"""A task that streams (`task.streams`) continues its chunks exactly: glued, they are one sample."""

from __future__ import annotations

import pytest
import torch
from task_cases import CONFIGS, build, config_id

STREAMING = [(n, o) for n, o in CONFIGS if build(n, o, "all").streams]


def test_the_group_tasks_and_the_paper_tasks_stream():
    names = {n for n, _ in STREAMING}
    assert {"parity", "count_mod", "modular_sum", "cycle_navigation", "permutation"} <= names
    assert {"jumps", "maze"} <= names


@pytest.mark.parametrize("chunk", [1, 5, 32])
@pytest.mark.parametrize(("name", "options"), STREAMING, ids=[config_id(*c) for c in STREAMING])
def test_glued_chunks_equal_the_reference_of_the_glued_stream(name, options, chunk):
    task = build(name, options, "all")
    generator, carry, chunks = torch.Generator().manual_seed(3), None, []
    for i in range(96 // chunk):
        size = max(chunk, task.min_length) if i == 0 else chunk  # a sample starts the stream
        batch, carry = task.stream_chunk(3, size, generator, carry)
        assert batch.inputs.shape == (3, size) and (i == 0 or batch.mask.all())
        chunks.append(batch)
    inputs = torch.cat([c.inputs for c in chunks], 1)
    targets = torch.cat([c.targets for c in chunks], 1)
    mask = torch.cat([c.mask for c in chunks], 1)
    assert 0 <= int(inputs.min()) and int(inputs.max()) < task.vocab_size
    for row in range(3):
        labels = task.reference(inputs[row].tolist())
        assert mask[row].tolist() == [y is not None for y in labels]
        assert targets[row][mask[row]].tolist() == [y for y in labels if y is not None]


@pytest.mark.parametrize(("name", "options"), STREAMING, ids=[config_id(*c) for c in STREAMING])
def test_streams_are_deterministic(name, options):
    task = build(name, options, "all")

    def draw():
        generator, carry, out = torch.Generator().manual_seed(9), None, []
        for _ in range(3):
            batch, carry = task.stream_chunk(2, 7, generator, carry)
            out.append(batch.targets)
        return torch.cat(out, 1)

    assert torch.equal(draw(), draw())


def test_a_task_that_cannot_stream_says_so():
    task = build("majority", {}, "all")
    assert not task.streams
    with pytest.raises(NotImplementedError, match="majority"):
        task.stream_chunk(2, 4, torch.Generator())
