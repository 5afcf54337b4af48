"""bench/ reads what it needs to know about a task off the task class: a new task is one file."""

from __future__ import annotations

import pytest
import torch
from statebench.bench.plots.style import task_order
from statebench.bench.probe.stream import ChunkStream
from statebench.tasks import Batch, Task, list_tasks, register_task, task_class
from statebench.tasks import registry as task_registry


class Counter(Task):
    """Tokens 0/1; target: how many 1s so far, mod 4, carried as a plain count (not a target)."""

    description = "throwaway streaming task"
    family = "test"
    display_order = 1
    vocab_size = 2
    num_classes = 4

    def _sample(self, batch_size, length, generator, device):
        x = torch.randint(0, 2, (batch_size, length), generator=generator, device=device)
        return Batch(x, x.cumsum(1) % 4, torch.ones_like(x, dtype=torch.bool))

    def _reference(self, tokens):
        return [sum(tokens[: i + 1]) % 4 for i in range(len(tokens))]

    def stream_chunk(self, batch_size, length, generator, carry=None):
        batch = self.sample(batch_size, length, generator)
        count = batch.inputs.cumsum(1) + (0 if carry is None else carry[:, None])
        return Batch(batch.inputs, count % 4, batch.mask), count[:, -1]


@pytest.fixture
def throwaway():
    register_task("throwaway_counter")(Counter)
    try:
        yield Counter()
    finally:
        del task_registry._TASKS["throwaway_counter"]


def test_a_new_task_streams_through_its_own_carry(throwaway):
    stream = ChunkStream(throwaway, n_seq=2, chunk=5, seed=0)
    assert stream.streams
    chunks = [stream.next_chunk() for _ in range(4)]
    inputs = torch.cat([c.inputs for c in chunks], 1)
    targets = torch.cat([c.targets for c in chunks], 1)
    for row in range(2):
        assert targets[row].tolist() == throwaway.reference(inputs[row].tolist())


def test_a_new_task_is_listed_where_it_declares(throwaway):
    assert task_order(["parity", "throwaway_counter", "zzz(unregistered)"]) == [
        "throwaway_counter",
        "parity",
        "zzz(unregistered)",
    ]


def test_every_registered_task_declares_its_family_and_display_order():
    orders = [task_class(n).display_order for n in list_tasks()]
    assert len(set(orders)) == len(orders), "two tasks share a display order"
    assert all(task_class(n).family != "other" for n in list_tasks())
    by_order = sorted(list_tasks(), key=lambda n: task_class(n).display_order)
    assert task_order(list_tasks()) == by_order
    assert task_order(["mqar", "parity", "flipflop"]) == ["parity", "flipflop", "mqar"]
