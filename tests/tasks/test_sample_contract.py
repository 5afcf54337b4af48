"""Every task's vectorized sampler agrees with its plain-Python reference, for both readouts."""

from __future__ import annotations

import pytest
import statebench.tasks as tasks
import torch
from task_cases import short_lengths, valid_lengths


def check_against_reference(task, batch):
    """Mask == positions where reference is not None; targets == reference there."""
    for row in range(batch.inputs.shape[0]):
        labels = task.reference(batch.inputs[row].tolist())
        assert batch.mask[row].tolist() == [y is not None for y in labels], f"row {row} mask"
        expected = [y for y in labels if y is not None]
        assert batch.targets[row][batch.mask[row]].tolist() == expected, f"row {row} targets"


def test_sample_matches_reference_at_short_lengths(task):
    lengths = short_lengths(task)
    assert task.min_length in lengths
    generator = torch.Generator().manual_seed(0)
    for length in lengths:
        check_against_reference(task, task.sample(24, length, generator))


def test_sample_matches_reference_at_a_long_length(task):
    length = valid_lengths(task, [300, 301])[0]
    check_against_reference(task, task.sample(4, length, torch.Generator().manual_seed(1)))


def test_shapes_dtypes_and_ranges(task):
    for length in short_lengths(task):
        batch = task.sample(64, length, torch.Generator().manual_seed(2))
        for t in (batch.inputs, batch.targets, batch.mask):
            assert t.shape == (64, length)
        assert batch.inputs.dtype == torch.int64 and batch.targets.dtype == torch.int64
        assert batch.mask.dtype == torch.bool
        assert 0 <= int(batch.inputs.min()) and int(batch.inputs.max()) < task.vocab_size
        scored = batch.targets[batch.mask]
        assert 0 <= int(scored.min()) and int(scored.max()) < task.num_classes


def test_every_row_has_a_scored_position(task):
    """No task makes a row with nothing to score (min_length guarantees an answer)."""
    for length in short_lengths(task):
        batch = task.sample(256, length, torch.Generator().manual_seed(3))
        assert batch.mask.any(dim=1).all()


def test_last_readout_scores_only_the_final_scored_position(task):
    length = valid_lengths(task, [40, 41])[0]
    batch = task.sample(256, length, torch.Generator().manual_seed(4))
    per_row = batch.mask.sum(dim=1)
    if task.readout == "last":
        assert (per_row == 1).all()
        # Every task ends on a fixed scored position: flipflop's final read, else the last token.
        expected_pos = length - 2 if task.name == "flipflop" else length - 1
        assert batch.mask[:, expected_pos].all()
    else:
        assert (per_row >= 1).all() and (per_row > 1).any()


def test_same_generator_state_gives_the_same_batch(task):
    length = valid_lengths(task, [40, 41])[0]
    a = task.sample(16, length, torch.Generator().manual_seed(7))
    b = task.sample(16, length, torch.Generator().manual_seed(7))
    for x, y in zip((a.inputs, a.targets, a.mask), (b.inputs, b.targets, b.mask), strict=True):
        assert torch.equal(x, y)


def test_different_seeds_and_successive_draws_differ(task):
    length = valid_lengths(task, [40, 41])[0]
    g = torch.Generator().manual_seed(7)
    a = task.sample(16, length, g)
    b = task.sample(16, length, g)  # the generator has advanced
    c = task.sample(16, length, torch.Generator().manual_seed(8))
    assert not torch.equal(a.inputs, b.inputs)
    assert not torch.equal(a.inputs, c.inputs)


def test_no_generator_is_deterministic(task):
    length = valid_lengths(task, [20, 21])[0]
    assert torch.equal(task.sample(4, length).inputs, task.sample(4, length).inputs)


def test_device_argument_keeps_the_batch_of_the_generator(task):
    """device= moves the batch; the draw still comes from the generator (same batch)."""
    length = valid_lengths(task, [20, 21])[0]
    a = task.sample(8, length, torch.Generator().manual_seed(5))
    b = task.sample(8, length, torch.Generator().manual_seed(5), device="cpu")
    assert b.inputs.device.type == "cpu" and torch.equal(a.inputs, b.inputs)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_sampling_matches_reference(task):
    length = valid_lengths(task, [64, 65])[0]
    batch = task.sample(16, length, torch.Generator(device="cuda").manual_seed(0))
    assert batch.inputs.device.type == "cuda" and batch.mask.device.type == "cuda"
    check_against_reference(task, batch.to("cpu"))
    moved = task.sample(16, length, torch.Generator().manual_seed(0), device="cuda")
    assert moved.inputs.device.type == "cuda"
    check_against_reference(task, moved.to("cpu"))


@pytest.mark.parametrize("name", tasks.list_tasks())
def test_sample_matches_reference_at_every_length_up_to_300(name):
    """Every length the task can make, from its minimum to 300, default options."""
    task = tasks.get_task(name)
    generator = torch.Generator().manual_seed(6)
    for length in valid_lengths(task, range(task.min_length, 301)):
        check_against_reference(task, task.sample(2, length, generator))
