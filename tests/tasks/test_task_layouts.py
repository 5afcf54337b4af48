"""Task-specific layouts: which positions hold what and which are scored, as documented."""

from __future__ import annotations

import statebench.tasks as tasks
import torch
from statebench.tasks.flipflop import BIT0, IGNORE, READ, WRITE
from statebench.tasks.modular_arithmetic import PLUS, TIMES


def draw(task, batch_size, length, seed=0):
    return task.sample(batch_size, length, torch.Generator().manual_seed(seed))


def test_even_pairs_scores_every_position_but_the_first():
    b = draw(tasks.get_task("even_pairs"), 64, 10)
    assert not b.mask[:, 0].any() and b.mask[:, 1:].all()
    # The target is x_t xor x_0: the parity of the number of changes.
    assert torch.equal(b.targets[:, 1:], b.inputs[:, 1:] ^ b.inputs[:, :1])


def test_modular_arithmetic_layout_and_all_readout():
    t = tasks.get_task("modular_arithmetic", readout="all")
    b = draw(t, 256, 9)
    digits, ops = b.inputs[:, 0::2], b.inputs[:, 1::2]
    assert ((digits >= 0) & (digits < 5)).all()
    assert ((ops >= PLUS) & (ops <= TIMES)).all()
    assert set(ops.unique().tolist()) == {5, 6, 7}
    assert b.mask[:, 0::2].all() and not b.mask[:, 1::2].any()
    assert torch.equal(b.targets[:, 0], b.inputs[:, 0])  # a lone digit is its own value


def test_modular_arithmetic_defaults_to_the_last_digit():
    b = draw(tasks.get_task("modular_arithmetic"), 64, 7)
    assert b.mask[:, 6].all() and b.mask.sum() == 64


def test_flipflop_layout():
    t = tasks.get_task("flipflop")
    b = draw(t, 512, 40)
    instr, bits = b.inputs[:, 0::2], b.inputs[:, 1::2] - BIT0
    assert ((instr >= WRITE) & (instr <= IGNORE)).all() and ((bits == 0) | (bits == 1)).all()
    assert (instr[:, 0] == WRITE).all() and (instr[:, -1] == READ).all()
    # Scored exactly at the read instructions; the bit after a read is the answer (teacher-forced).
    assert torch.equal(b.mask[:, 0::2], instr == READ) and not b.mask[:, 1::2].any()
    assert torch.equal(b.targets[:, 0::2][instr == READ], bits[instr == READ])


def test_flipflop_instruction_frequencies_follow_p_ignore():
    for p_ignore in (0.0, 0.5, 0.8):
        instr = draw(tasks.get_task("flipflop", p_ignore=p_ignore), 2000, 102).inputs[:, 2:-2:2]
        freq = [float((instr == k).float().mean()) for k in (WRITE, READ, IGNORE)]
        rest = (1 - p_ignore) / 2
        assert abs(freq[0] - rest) < 0.01 and abs(freq[1] - rest) < 0.01
        assert abs(freq[2] - p_ignore) < 0.01


def test_mqar_layout():
    t = tasks.get_task("mqar", n_keys=16, n_pairs=8, n_values=16)
    b = draw(t, 256, 40)
    keys, values = b.inputs[:, 0:16:2], b.inputs[:, 1:16:2]
    assert ((keys >= 0) & (keys < 16)).all() and ((values >= 16) & (values < 32)).all()
    assert all(len(set(row)) == 8 for row in keys.tolist())  # distinct keys per sequence
    queries = b.inputs[:, 16:]
    assert (queries.unsqueeze(2) == keys.unsqueeze(1)).any(dim=2).all()  # keys of the prefix
    assert not b.mask[:, :16].any() and b.mask[:, 16:].all()
    assert len(set(keys.flatten().tolist())) == 16  # every key gets used across the batch


def test_mqar_min_length_is_one_query():
    t = tasks.get_task("mqar", n_pairs=3)
    assert t.min_length == 7
    b = draw(t, 8, 7)
    assert b.mask.sum(dim=1).tolist() == [1] * 8


def test_permutation_composition_order_is_documented_one():
    """state_t = x_t . state_{t-1}: S3 ids 1 = (0,2,1) then 2 = (1,0,2) give (1,0,2).(0,2,1)."""
    t = tasks.get_task("permutation", group="S3")
    # (a . b)(i) = a[b[i]] with a = (1,0,2), b = (0,2,1): (1,2,0), id 3 in lexicographic order.
    assert t.reference([1, 2]) == [1, 3]
    # The other order would be (0,2,1).(1,0,2) = (2,0,1), id 4.
    assert t.reference([2, 1]) == [2, 4]


def test_majority_ties_go_to_the_smallest_symbol():
    t = tasks.get_task("majority", m=3)
    assert t.reference([2, 1, 1, 2, 0, 0]) == [2, 1, 1, 1, 1, 0]
    x = torch.tensor([[2, 1, 1, 2, 0, 0]])
    assert t._majority(x).tolist() == [[2, 1, 1, 1, 1, 0]]
