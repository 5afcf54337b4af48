"""Forward-referencing jumps: which tokens execute when earlier jumps skip the ones after them.

One of the two probes of "Recurrence-Complete Frame-based Action Models" (Keiblinger, 2025).
The paper's exact definition is not public; this is our operational version.
"""

from __future__ import annotations

import torch
from statebench.tasks.automaton import StateMachine, run_automaton
from statebench.tasks.base import Batch, Task, _last_true
from statebench.tasks.chance import markov_mode_probability
from statebench.tasks.registry import register_task

TARGETS = ("executed", "sum")


@register_task("jumps")
class Jumps(Task):
    """Instructions 0..V-1 and jumps "skip the next k tokens" (k in 1..K, token V + k - 1).

    Read left to right, a token executes unless an executed jump skips it; a skipped jump does
    nothing. With target="executed" the target at each position is 1 if that token executes;
    with target="sum" it is the running sum mod m of the executed instructions' values. Each
    token is a jump with probability p_jump (k uniform), else a uniform instruction.

    The hidden state is the remaining skip count r in 0..K. The update maps (r -> r - 1 while
    skipping; 0 -> k on an executed jump) contain cycles, so the language is not star-free, and
    every output depends on the whole chain of earlier jumps: whether a jump counts depends on
    whether an earlier one skipped it. Targets start far from uniform, so chance is exact by a
    Markov chain over (r, what the target reads) with `tasks.chance`. The first token always
    executes, so with target="executed" position 0 is not scored (min_length 2).
    """

    description = "instructions and skip-k jumps; target: does the token execute (not star-free)"
    family = "regular"
    display_order = 70

    def __init__(
        self,
        n_instructions: int = 4,
        max_jump: int = 3,
        p_jump: float = 0.3,
        target: str = "executed",
        m: int = 5,
        readout: str | None = None,
    ) -> None:
        super().__init__(readout)
        self.n_instructions = self._int_option("n_instructions", n_instructions, 1)
        self.max_jump = self._int_option("max_jump", max_jump, 1)
        ok = isinstance(p_jump, (int, float)) and not isinstance(p_jump, bool)
        if not ok or not 0.0 < p_jump < 1.0:
            raise self._error(
                f"p_jump={p_jump!r} is not allowed; p_jump must be a number in (0, 1)"
            )
        self.p_jump = float(p_jump)
        if target not in TARGETS:
            raise self._error(
                f"target={target!r} is not allowed; choose one of {', '.join(TARGETS)}"
            )
        self.target = target
        self.m = self._int_option("m", m, 2)
        self.vocab_size = self.n_instructions + self.max_jump
        self.num_classes = 2 if target == "executed" else self.m
        self.min_length = 2 if target == "executed" else 1
        # table[r, token]: the skip count after the token, given r before it.
        k = self.max_jump
        table = torch.zeros(k + 1, self.vocab_size, dtype=torch.int64)
        table[0, self.n_instructions :] = torch.arange(1, k + 1)
        table[1:, :] = torch.arange(k)[:, None]
        self._table = table

    def state_machine(self) -> StateMachine:
        """State r * m + s: the skip count r and, for target="sum", the running sum s (m = 1
        for target="executed", whose target reads the state before the token, not after)."""
        m = self.m if self.target == "sum" else 1
        k, n_instr = self.max_jump, self.n_instructions
        table = torch.empty((k + 1) * m, self.vocab_size, dtype=torch.int64)
        for r in range(k + 1):
            for s in range(m):
                for token in range(self.vocab_size):
                    r_next, s_next = int(self._table[r, token]), s
                    if r == 0 and token < n_instr:  # an executed instruction adds its value
                        s_next = (s + token) % m
                    table[r * m + s, token] = r_next * m + s_next
        target_of = torch.arange((k + 1) * m) % m if self.target == "sum" else None
        return StateMachine(table, torch.tensor([0]), target_of)

    def _tokens(self, batch_size, length, generator, device) -> torch.Tensor:
        jump = torch.rand(batch_size, length, generator=generator, device=device) < self.p_jump
        k = torch.randint(
            0, self.max_jump, (batch_size, length), generator=generator, device=device
        )
        v = torch.randint(
            0, self.n_instructions, (batch_size, length), generator=generator, device=device
        )
        return torch.where(jump, k + self.n_instructions, v)

    def _run(self, x: torch.Tensor, skip: torch.Tensor, total: torch.Tensor):
        """Targets [B, T] from skip count and sum before x, and the (skip, sum) after it."""
        after = run_automaton(self._table, x, skip)
        before = torch.cat((skip.to(x.device)[:, None], after[:, :-1]), dim=1)
        executed = (before == 0).long()
        if self.target == "executed":
            return executed, (after[:, -1], total)
        value = torch.where(x < self.n_instructions, x, torch.zeros_like(x)) * executed
        sums = (value.cumsum(1) + total.to(x.device)[:, None]) % self.m
        return sums, (after[:, -1], sums[:, -1])

    def _sample(self, batch_size, length, generator, device) -> Batch:
        x = self._tokens(batch_size, length, generator, device)
        zero = torch.zeros(batch_size, dtype=torch.int64, device=device)
        y, _ = self._run(x, zero, zero)
        mask = torch.ones_like(x, dtype=torch.bool)
        if self.target == "executed":
            mask[:, 0] = False  # the first token always executes
        return Batch(x, y, mask)

    def stream_chunk(self, batch_size, length, generator, carry=None):
        """Carry: the skip count and the running sum after the stream so far."""
        if carry is None:
            batch = self.sample(batch_size, length, generator)
            zero = torch.zeros(batch_size, dtype=torch.int64, device=generator.device)
            return batch, self._run(batch.inputs, zero, zero)[1]
        if not isinstance(length, int) or length < 1:
            raise self._error(f"length={length!r} is not allowed; chunks are integers >= 1")
        x = self._tokens(batch_size, length, generator, generator.device)
        y, carry = self._run(x, *carry)
        mask = torch.ones_like(x, dtype=torch.bool)
        return Batch(x, y, _last_true(mask) if self.readout == "last" else mask), carry

    def _reference(self, tokens):
        out, skip, total = [], 0, 0
        for t in tokens:
            executes = skip == 0
            if not executes:
                skip -= 1
            elif t >= self.n_instructions:  # an executed jump
                skip = t - self.n_instructions + 1
            else:
                total = (total + t) % self.m
            out.append(int(executes) if self.target == "executed" else total)
        if self.target == "executed" and out:
            out[0] = None  # always 1: nothing to learn there
        return out

    def _score_probability(self, length):
        p = torch.ones(length, dtype=torch.float64)
        if self.target == "executed":
            p[0] = 0.0
        return p

    def _position_accuracy(self, length):
        """Markov chain over (skip count after the token, the token's target)."""
        k, classes = self.max_jump, self.num_classes
        n_states = (k + 1) * classes
        trans = torch.zeros(n_states, n_states, dtype=torch.float64)
        p_k, p_v = self.p_jump / k, (1 - self.p_jump) / self.n_instructions
        for r in range(k + 1):
            for y in range(classes):
                row = r * classes + y
                if r > 0:  # skipped: nothing executes, the sum stays
                    keep = 0 if self.target == "executed" else y
                    trans[row, (r - 1) * classes + keep] += 1.0
                    continue
                for j in range(1, k + 1):  # an executed jump
                    y_next = 1 if self.target == "executed" else y
                    trans[row, j * classes + y_next] += p_k
                for v in range(self.n_instructions):  # an executed instruction
                    y_next = 1 if self.target == "executed" else (y + v) % self.m
                    trans[row, y_next] += p_v
        init = torch.zeros(n_states, dtype=torch.float64)
        init[0] = 1.0  # skip 0, sum 0
        target_of = torch.arange(n_states) % classes
        return markov_mode_probability(init, trans, target_of, length)
