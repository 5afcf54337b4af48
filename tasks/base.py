"""The task contract: a tiny class that samples batches and states its own spec in plain Python."""

from __future__ import annotations

import inspect
from abc import ABCMeta, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

import torch

READOUTS = ("all", "last", "query")


@dataclass(frozen=True)
class Batch:
    """One batch of a task: int64 inputs and targets [B, T], and a bool mask of scored positions."""

    inputs: torch.Tensor
    targets: torch.Tensor
    mask: torch.Tensor

    def to(self, device: torch.device | str) -> Batch:
        return Batch(self.inputs.to(device), self.targets.to(device), self.mask.to(device))


class _TaskMeta(ABCMeta):
    """Finishes construction after a subclass's own `__init__` has set `vocab_size`."""

    def __call__(cls, *args, **kwargs):
        task = super().__call__(*args, **kwargs)
        task._add_query_token()
        return task


class Task(metaclass=_TaskMeta):
    """A state-tracking task.

    Subclasses set `name` (by `register_task`), `description`, `vocab_size`, `num_classes`,
    `default_readout`, `min_length`, and implement `_sample` (vectorized torch, the task's native
    mask: every position that can be scored) and `_reference` (plain Python, the spec). The base
    class applies the readout, validates lengths, records options and computes chance.

    Targets are aligned with inputs: the target at position t is what the model's output at t,
    having seen inputs[0..t], must predict.

    Readouts: "all" scores every position the task can score (the streaming form); "last" only
    the final one; "query" appends one empty token (id `query_token`, one past the task's own
    tokens, so `vocab_size` grows by one) after the `length` input tokens and reads the final
    answer there, as Deletang et al. read it at an extra empty-target position. A "query" batch
    is `length + 1` positions long; `length` still counts the input tokens.

    Chance is the accuracy of the best *blind* guess: a guesser that knows the length and the
    position but sees no input token, scored exactly like a model (pooled over scored positions).
    Subclasses describe it through `_score_probability` (how likely each position is scored) and
    `_position_accuracy` (the best blind guess's accuracy where it is scored); the defaults fit a
    task whose every position is scored with a target uniform over `num_classes`.
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    # What figures and tables read off the class: the kind of state the task tracks, and where
    # it is listed (ascending, roughly easy to hard; ties and tasks left at the default by name).
    family: ClassVar[str] = "other"
    display_order: ClassVar[int] = 1000
    default_readout: ClassVar[str] = "all"
    min_length: ClassVar[int] = 1
    # The length `chance` is quoted at; `chance_at(length)` gives it at any length.
    chance_length: ClassVar[int] = 64
    vocab_size: int
    num_classes: int

    def __init__(self, readout: str | None = None) -> None:
        readout = self.default_readout if readout is None else readout
        if readout not in READOUTS:
            raise ValueError(
                f"task {self.name!r}: readout={readout!r} is not allowed; choose one of {READOUTS}"
            )
        self.readout = readout
        self.query_token: int | None = None
        self._chance_cache: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}

    def _add_query_token(self) -> None:
        if self.readout == "query" and self.query_token is None:
            self.query_token = int(self.vocab_size)
            self.vocab_size = self.query_token + 1  # an instance attribute over the class's

    @property
    def extra_positions(self) -> int:
        """Positions a batch has beyond its input length (1 for the query token, else 0)."""
        return 1 if self.readout == "query" else 0

    # -- options ---------------------------------------------------------------------------
    @classmethod
    def option_names(cls) -> list[str]:
        """The constructor's options: its named parameters, and where it takes `**kwargs`
        (passed on to `super().__init__`), those of the classes above it, down to `readout`.

        Options are named parameters: `**kwargs` only forwards them, it declares none.
        """
        names: list[str] = []
        for klass in cls.__mro__:
            init = klass.__dict__.get("__init__")
            if init is None:
                continue
            params = inspect.signature(init).parameters.values()
            names += [
                p.name
                for p in params
                if p.name != "self"
                and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
                and p.name not in names
            ]
            if not any(p.kind is p.VAR_KEYWORD for p in params):
                break  # this constructor takes no more options than it names
        return names

    def options(self) -> dict:
        """Every constructor option with its value (for configs and result rows).

        Read generically from the constructor's signature (`option_names`): each option is
        stored on the instance under its own name, so a new option can never be forgotten here.
        """
        return {p: getattr(self, p) for p in self.option_names()}

    def _error(self, message: str) -> ValueError:
        return ValueError(f"task {self.name!r}: {message}")

    def _int_option(self, name: str, value, minimum: int, maximum: int | None = None) -> int:
        """Validate an integer option, naming the allowed range in the error."""
        ok = isinstance(value, int) and not isinstance(value, bool) and value >= minimum
        if ok and maximum is not None:
            ok = value <= maximum
        if not ok:
            allowed = f">= {minimum}" if maximum is None else f"in [{minimum}, {maximum}]"
            raise self._error(
                f"{name}={value!r} is not allowed; {name} must be an integer {allowed}"
            )
        return value

    # -- lengths ---------------------------------------------------------------------------
    length_rule: ClassVar[str] = ""  # extra constraint in words, e.g. "odd" (for error messages)

    def check_length(self, length: int) -> int:
        """Return `length` if the task can make it, else raise a ValueError saying what it can.

        Tasks with more constraints (parity of the length, ...) override `_length_ok`.
        """
        ok = isinstance(length, int) and not isinstance(length, bool)
        if not ok or length < self.min_length or not self._length_ok(length):
            rule = f"{self.length_rule} " if self.length_rule else ""
            raise self._error(
                f"length={length!r} is not allowed; lengths are {rule}integers >= {self.min_length}"
            )
        return length

    def _length_ok(self, length: int) -> bool:
        return True

    # -- sampling --------------------------------------------------------------------------
    def sample(
        self,
        batch_size: int,
        length: int,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
    ) -> Batch:
        """Draw a batch, deterministic for a given generator state.

        Random numbers are drawn on the generator's device (torch requires it); the batch is
        then moved to `device` if one is given. A CPU generator therefore gives the same batch
        whichever device the batch is asked for.
        """
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
            raise self._error(f"batch_size={batch_size!r} must be an integer >= 1")
        length = self.check_length(length)
        if generator is None:
            generator = torch.Generator(device=device or "cpu")
        batch = self._sample(batch_size, length, generator, generator.device)
        if self.readout in ("last", "query"):
            batch = Batch(batch.inputs, batch.targets, _last_true(batch.mask))
        if self.readout == "query":
            batch = _append_query(batch, self.query_token)
        if device is not None and torch.device(device) != generator.device:
            batch = batch.to(device)
        return batch

    @abstractmethod
    def _sample(
        self, batch_size: int, length: int, generator: torch.Generator, device: torch.device
    ) -> Batch:
        """Vectorized sampler with the task's native mask (readout is applied by `sample`)."""

    # -- spec ------------------------------------------------------------------------------
    def reference(self, tokens: list[int]) -> list[int | None]:
        """Plain-Python labels of one sequence under this task's readout (None where unscored)."""
        tokens = list(tokens)
        query = self.readout == "query" and bool(tokens) and tokens[-1] == self.query_token
        labels = self._reference(tokens[:-1] if query else tokens)
        if self.readout in ("last", "query"):
            scored = [i for i, y in enumerate(labels) if y is not None]
            answer = labels[scored[-1]] if scored else None
            labels = [None] * len(labels)
            if query:
                labels.append(answer)
            elif scored:
                labels[scored[-1]] = answer
        return labels

    @abstractmethod
    def _reference(self, tokens: list[int]) -> list[int | None]:
        """Plain-Python labels under the native readout: the obviously-correct spec."""

    # -- chance ----------------------------------------------------------------------------
    @property
    def chance(self) -> float:
        """Best blind-guess accuracy at `chance_length` (or the next length the task can make).

        For most tasks it does not depend on the length; where it does (majority, and slightly
        cycle_navigation, count_mod, modular_arithmetic) use `chance_at(length)`.
        """
        length = max(self.chance_length, self.min_length)
        while not self._length_ok(length):
            length += 1
        return self.chance_at(length)

    def chance_at(self, length: int) -> float:
        """Accuracy of the best blind guess at this length, pooled over scored positions."""
        p, acc = self._chance_parts(length)
        return float((p * acc).sum() / p.sum())

    def chance_between(self, length: int, start: int, stop: int | None = None) -> float:
        """Best blind-guess accuracy pooled over positions [start, stop) of a batch of `length`
        (NaN when nothing there is ever scored): chance for a part of the sequence."""
        p, acc = self._chance_parts(length)
        p, acc = p[start:stop], acc[start:stop]
        total = float(p.sum())
        return float((p * acc).sum()) / total if total > 0 else float("nan")

    def position_chance(self, length: int) -> torch.Tensor:
        """Best blind-guess accuracy at each position of a batch (float64 [length + extra];
        NaN where never scored)."""
        p, acc = self._chance_parts(length)
        return torch.where(p > 0, acc, torch.full_like(acc, float("nan")))

    def _chance_parts(self, length: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(probability each position is scored under this readout, best-guess accuracy)."""
        length = self.check_length(length)
        if length not in self._chance_cache:
            p = self._score_probability(length).to(torch.float64)
            acc = self._position_accuracy(length).to(torch.float64)
            if self.readout in ("last", "query"):
                last = int(torch.nonzero(p > 0).max())
                if p[last] != 1:  # the last scored position would be random: not supported
                    raise NotImplementedError(
                        f"task {self.name!r}: {self.readout} readout needs a fixed end"
                    )
                p = torch.zeros_like(p)
                p[last] = 1.0
                if self.readout == "query":  # the answer moves to the appended position
                    p = torch.cat((torch.zeros_like(p), torch.ones(1, dtype=p.dtype)))
                    acc = torch.cat((acc, acc[last : last + 1]))
            self._chance_cache[length] = (p, acc)
        return self._chance_cache[length]

    def _score_probability(self, length: int) -> torch.Tensor:
        """Probability that each position is scored under the native mask (default: all)."""
        return torch.ones(length, dtype=torch.float64)

    def _position_accuracy(self, length: int) -> torch.Tensor:
        """Best blind-guess accuracy at each position (default: uniform targets)."""
        return torch.full((length,), 1.0 / self.num_classes, dtype=torch.float64)

    # -- hidden state ----------------------------------------------------------------------
    def state_machine(self):
        """The task's hidden state as a `tasks.automaton.StateMachine`, where it is a finite
        automaton over the input tokens (None otherwise). It lets `synchronizing_lengths` and
        `identifying_windows` say whether a window of recent inputs answers the task."""
        return None

    # -- streaming -------------------------------------------------------------------------
    @property
    def streams(self) -> bool:
        """True when `stream_chunk` can continue a stream (a probe then has no length bound)."""
        cls = type(self)
        return (
            cls.stream_chunk is not Task.stream_chunk
            or cls.continue_targets is not Task.continue_targets
        )

    def stream_chunk(
        self, batch_size: int, length: int, generator: torch.Generator, carry: Any = None
    ) -> tuple[Batch, Any]:
        """The next `length` positions of `batch_size` endless streams, and the carry onward.

        `carry` is what the previous call returned (None starts the streams). Glued together,
        the chunks are one sequence per stream whose targets equal `reference` of the glued
        inputs, so a probe can stream lengths no single `sample` could hold in memory; only the
        carry crosses a chunk boundary.

        The default fits tasks whose state is their last target (prefix products in a group):
        a fresh chunk from `sample` and its own prefix targets, continued by `continue_targets`.
        Other tasks override this; a task that does neither cannot stream (`streams` is False).
        """
        if not self.streams:
            raise NotImplementedError(f"task {self.name!r} cannot continue a stream")
        batch = self.sample(batch_size, length, generator)
        targets = batch.targets if carry is None else self.continue_targets(batch.targets, carry)
        return Batch(batch.inputs, targets, batch.mask), targets[:, -1]

    def continue_targets(self, prefix: torch.Tensor, carry: torch.Tensor) -> torch.Tensor:
        """Targets [B, T] of a chunk whose own prefix products are `prefix`, after a stream whose
        last target is `carry` [B]: p_t . c in the task's group."""
        raise NotImplementedError(f"task {self.name!r} has no carried target")

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in self.options().items())
        return f"{type(self).__name__}({opts})"


def _append_query(batch: Batch, token: int) -> Batch:
    """One query position after the inputs; its target is each row's last scored target."""
    b, t = batch.inputs.shape
    pos = torch.arange(t, device=batch.mask.device).expand_as(batch.mask)
    last = torch.where(batch.mask, pos, torch.zeros_like(pos)).max(dim=1, keepdim=True).values
    answer = batch.targets.gather(1, last)
    query = torch.full((b, 1), token, dtype=batch.inputs.dtype, device=batch.inputs.device)
    mask = torch.zeros_like(batch.mask)
    return Batch(
        torch.cat((batch.inputs, query), dim=1),
        torch.cat((batch.targets, answer), dim=1),
        torch.cat((mask, batch.mask.any(dim=1, keepdim=True)), dim=1),
    )


def _last_true(mask: torch.Tensor) -> torch.Tensor:
    """Keep only the last True of each row (rows with none stay all-False)."""
    t = mask.shape[1]
    pos = torch.arange(t, device=mask.device).expand_as(mask)
    last = torch.where(mask, pos, torch.full_like(pos, -1)).max(dim=1, keepdim=True).values
    return (pos == last) & mask
