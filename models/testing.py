"""The conformance suite every adapter passes: `check_adapter(arch, **options)`.

Plain Python, no pytest, so a third-party adapter can be checked with one line:

    python -c "from models.testing import check_adapter; check_adapter('mypkg.gru:GRUMixer')"

It builds tiny fp32 models (d_model 16, 2 layers, length 16), so a check takes well under a
second, and seeds everything, so a failure reproduces. A failure raises `ConformanceError` (an
AssertionError) whose message names the adapter, its options and the property that broke.
"""

from __future__ import annotations

import contextlib
import numbers
from typing import Any

import torch
from statebench.models.backbone import SequenceModel
from statebench.models.registry import arch_class, arch_label, build_model
from torch.nn import functional as F

VOCAB, CLASSES = 11, 7
# 7 does not divide 16, so the last chunk is ragged; 8 lines up with frame- or block-wise
# mixers (rc_frame's default frame of 8 and its divisors), 1 and 7 do not.
CHUNKS = (1, 7, 8)
LENGTH_FACTOR = 4  # "runs beyond its training length" means at 4x the nominal one
MAX_PROBE = 1 << 14  # a declared max_length above this is trusted, not exercised


class ConformanceError(AssertionError):
    """An adapter broke the contract; `check` names the property, the message says how."""

    def __init__(self, label: str, check: str, detail: str) -> None:
        super().__init__(f"{label}: {check} check failed: {detail}")
        self.check = check


def check_adapter(
    arch: str | type,
    *,
    d_model: int = 16,
    n_layers: int = 2,
    train_len: int = 16,
    batch_size: int = 2,
    seed: int = 0,
    atol: float = 1e-5,
    device: str | torch.device = "cpu",
    every_option_set: bool | None = None,
    causal_len: int | None = None,
    stream_len: int | None = None,
    **options: Any,
) -> dict[str, Any]:
    """Check `arch` (a name, an entry point, a dotted path or a class) built with `options`.

    `causal_len` adds a causality check of `forward` at that length (`check_causal_at`): a
    mixer can be causal on the short inputs above and read the future on long ones;
    `stream_len` holds `step`, fed that many tokens as one chunk (as a probe streams), to the
    same test.

    Without options (or with `every_option_set=True`), every option set the class lists in
    `conformance_options` (default `[{}]`) is checked in turn; the report is the first set's,
    with every set's report under `"option_sets"`. The keywords before `**options` configure
    the check itself, so adapters should not use them as option names. On CUDA, disable TF32
    or loosen `atol`: the step == forward and causality tolerances assume true fp32. Returns
    a report: checks passed, parameters, state sizes, kernel, max_length and the largest
    step-vs-forward error per chunk size.
    """
    settings = dict(d_model=d_model, n_layers=n_layers, train_len=train_len,
                    batch_size=batch_size, seed=seed, atol=atol, device=device,
                    causal_len=causal_len, stream_len=stream_len)  # fmt: skip
    if not (every_option_set if every_option_set is not None else not options):
        return _check_one(arch, **settings, **options)
    option_sets = getattr(arch_class(arch), "conformance_options", None) or [{}]
    reports = [_check_one(arch, **settings, **opts) for opts in option_sets]
    return {**reports[0], "option_sets": reports}


def _check_one(
    arch: str | type,
    *,
    d_model: int = 16,
    n_layers: int = 2,
    train_len: int = 16,
    batch_size: int = 2,
    seed: int = 0,
    atol: float = 1e-5,
    device: str | torch.device = "cpu",
    causal_len: int | None = None,
    stream_len: int | None = None,
    **options: Any,
) -> dict[str, Any]:
    """Check `arch` (a name, an entry point, a dotted path or a class) built with `options`.

    The keywords before `**options` configure the check itself, so adapters should not use
    them as option names. On CUDA, disable TF32 or loosen `atol`: the step == forward and
    causality tolerances assume true fp32. Returns a small report: checks passed, parameters,
    state sizes, kernel, max_length and the largest step-vs-forward error per chunk size.
    """
    label = arch_label(arch) + (f" {options}" if options else "")
    device = torch.device(device)
    report: dict[str, Any] = {"arch": arch_label(arch), "options": dict(options), "checks": []}

    @contextlib.contextmanager
    def checking(name: str):
        """Run one check; any exception in it becomes a ConformanceError naming the check."""
        try:
            yield
        except ConformanceError:
            raise
        except Exception as e:
            raise ConformanceError(label, name, f"raised {type(e).__name__}: {e}") from e
        report["checks"].append(name)

    def fail(name: str, detail: str) -> None:
        raise ConformanceError(label, name, detail)

    def build(s: int) -> SequenceModel:
        return build_model(arch, VOCAB, CLASSES, d_model, n_layers, seed=s, **options).to(device)

    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        with checking("build"):
            model = build(seed).eval()
        if model.max_length is not None:  # a declared limit below the nominal length wins
            train_len = max(2, min(train_len, model.max_length))
        gen = torch.Generator().manual_seed(seed)
        tokens = torch.randint(VOCAB, (batch_size, train_len), generator=gen).to(device)
        with checking("mixer output"), torch.no_grad():
            _check_mixer_output(fail, model, tokens.shape, device)
        with checking("parameters"):
            _check_parameters(fail, model)
        with checking("shapes"), torch.no_grad():
            logits = model(tokens)
            _check_logits(fail, "shapes", logits, batch_size, train_len)
        with checking("determinism"), torch.no_grad():
            _check_determinism(fail, model, build, seed, tokens, logits)
        with checking("batch independence"), torch.no_grad():
            diff = (model(tokens[:1]) - logits[:1]).abs().max().item()
            if not diff <= atol:  # `not <=` also catches NaN
                fail(
                    "batch independence", f"row 0's logits change with row 1 (max diff {diff:.2e})"
                )
        with checking("causality"), torch.no_grad():
            _check_causal(fail, model, tokens, logits, atol)
        with checking("step"), torch.no_grad():
            report["max_step_error"] = _check_step(fail, model, tokens, logits, atol)
        with checking("gradients"):
            _check_gradients(fail, model, tokens, gen)
        with checking("length"), torch.no_grad():
            report["max_length"] = _check_length(fail, model, train_len, device)
        with checking("num_params"):
            n = sum(p.numel() for p in model.parameters())
            if model.num_params() != n or n == 0:
                fail("num_params", f"num_params()={model.num_params()} but parameters sum to {n}")
            report["params"] = n
        with checking("state_size"):
            report["state_size"] = _check_state_size(fail, model, train_len)
        with checking("kernel"):
            kernel = model.kernel
            if not isinstance(kernel, str) or not kernel:
                fail("kernel", f"kernel must be a non-empty string, got {kernel!r}")
            report["kernel"] = kernel
        for length, path, key in ((causal_len, "forward", "causal_len"),
                                  (stream_len, "step", "stream_len")):  # fmt: skip
            if length is None:
                continue
            with checking(CAUSAL_CHECKS[path]), torch.no_grad():
                report[key] = _check_causal_at(fail, model, length, seed, atol, path)
    return report


def _check_mixer_output(fail, model, shape, device) -> None:
    """Each mixer, fed a float [B, T, D], returns a float tensor of that shape and dtype: the
    residual stream would broadcast a [B, 1, D] and promote an integer tensor back to float."""
    batch, length = shape
    d_model = model.d_model
    x = torch.randn(batch, length, d_model, generator=torch.Generator().manual_seed(1)).to(device)
    for i, block in enumerate(model.blocks):
        y = block.mixer(x)
        if not isinstance(y, torch.Tensor):
            fail("mixer output", f"layer {i}: forward returned {type(y).__name__}, not a tensor")
        if tuple(y.shape) != tuple(x.shape):
            fail("mixer output", f"layer {i}: forward of a [B, T, D] = {list(x.shape)} input "
                 f"returned shape {list(y.shape)}")  # fmt: skip
        if y.dtype != x.dtype:
            fail("mixer output", f"layer {i}: forward of a {x.dtype} input returned {y.dtype}, "
                 "not the input's float dtype")  # fmt: skip


def _check_parameters(fail, model) -> None:
    """A mixer with nothing to train would be scored on the backbone's MLP alone; one that
    means it (a fixed filter) says so with `parameter_free = True`."""
    for i, block in enumerate(model.blocks):
        mixer = block.mixer
        if getattr(mixer, "parameter_free", False):
            continue
        if not any(p.requires_grad and p.numel() for p in mixer.parameters()):
            fail("parameters", f"layer {i}: the mixer has no trainable parameter (declare "
                 "parameter_free = True on the class if that is meant)")  # fmt: skip


CAUSAL_CHECKS = {"forward": "long causality", "step": "streamed causality"}
# Cut positions for the long causality check, as fractions of the length (plus fixed ones).
CUT_FRACTIONS = (0.5,)
RANDOM_CUTS = 2


def causal_cuts(length: int, seed: int = 0, drawn: int = RANDOM_CUTS) -> list[int]:
    """Positions s at which the long check replaces every token after s: near the start (past
    the 8 a short check sees), the middle, the end, and `drawn` more at random."""
    last = length - 2
    if last < 0:
        return []
    fixed = {min(8, last), last, *(int(f * length) for f in CUT_FRACTIONS)}
    gen = torch.Generator().manual_seed(seed + 7)
    extra = torch.randint(0, last + 1, (drawn,), generator=gen).tolist()
    return sorted({min(s, last) for s in (*fixed, *extra)})


def check_causal_at(
    arch: str | type,
    length: int,
    *,
    step: bool = False,
    d_model: int = 16,
    n_layers: int = 2,
    seed: int = 0,
    atol: float = 1e-5,
    device: str | torch.device = "cpu",
    **options: Any,
) -> int:
    """Causality at `length`: for each cut s (`causal_cuts`), every token after s is replaced
    by another and the logits at positions <= s must not move. `forward` is checked, or with
    `step`, `step` fed the whole length as one chunk. Returns the length checked (a declared
    smaller max_length wins); raises ConformanceError naming "long causality" (forward) or
    "streamed causality" (step)."""
    label = arch_label(arch) + (f" {options}" if options else "")

    def fail(name: str, detail: str) -> None:
        raise ConformanceError(label, name, detail)

    with torch.random.fork_rng(devices=[]), torch.no_grad():
        model = build_model(arch, VOCAB, CLASSES, d_model, n_layers, seed=seed, **options)
        path = "step" if step else "forward"
        return _check_causal_at(fail, model.to(device).eval(), length, seed, atol, path)


def _check_causal_at(fail, model, length: int, seed: int, atol: float, path: str) -> int:
    if model.max_length is not None:
        length = min(length, model.max_length)
    # A streamed chunk is checked at the fixed cuts only: its cost is the probe chunk's, and
    # the random cuts of forward already cover positions (attention pays T^2 per row).
    cuts = causal_cuts(length, seed, drawn=RANDOM_CUTS if path == "forward" else 0)
    if not cuts:
        return length
    gen = torch.Generator().manual_seed(seed + 11)
    base = torch.randint(VOCAB, (1, length), generator=gen)
    # Row 0 is the input; row i+1 has every token after cuts[i] changed (batch rows are
    # independent, checked above), so one call tests every cut.
    rows = [base]
    for s in cuts:
        other = base.clone()
        shift = torch.randint(1, VOCAB, (1, length - s - 1), generator=gen)
        other[:, s + 1 :] = (base[:, s + 1 :] + shift) % VOCAB
        rows.append(other)
    tokens = torch.cat(rows).to(model.device)
    if path == "step":
        logits = model.step(tokens, model.init_state(tokens.shape[0], tokens.device))[0]
    else:
        logits = model(tokens)
    logits = logits.float()
    scale = 1.0 + float(logits[0].abs().max())
    for i, s in enumerate(cuts, start=1):
        moved = (logits[i, : s + 1] - logits[0, : s + 1]).abs().amax(dim=-1)
        bad = ~(moved <= 10 * atol * scale)  # `~(<=)` also catches NaN
        if bool(bad.any()):
            first = int(bad.nonzero()[0])
            diff = float(moved.max())
            fail(CAUSAL_CHECKS[path], f"not causal at length {length}: {path}() changed its "
                 f"output at position {first} when only tokens after position {s} changed "
                 f"(by up to {diff:.2e})")  # fmt: skip
    return length


def _check_logits(fail, check: str, logits, batch: int, length: int) -> None:
    want = (batch, length, CLASSES)
    if not isinstance(logits, torch.Tensor) or tuple(logits.shape) != want:
        got = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
        fail(check, f"logits have shape {got}, expected {want}")
    if logits.dtype != torch.float32:
        fail(check, f"fp32 model returned {logits.dtype} logits")
    if not torch.isfinite(logits).all():
        fail(check, f"non-finite logits at length {length}")


def _check_determinism(fail, model, build, seed, tokens, logits) -> None:
    twin = build(seed).eval()
    p1, p2 = model.state_dict(), twin.state_dict()
    differ = [k for k in p1 if not torch.equal(p1[k], p2[k])]
    if differ:
        fail("determinism", f"seed {seed} gave different initial values for {differ[:5]}")
    if not torch.equal(twin(tokens), logits) or not torch.equal(model(tokens), logits):
        fail("determinism", "the same seed and input gave different logits")
    other = build(seed + 1).state_dict()
    if all(torch.equal(p1[k], other[k]) for k in p1):
        fail("determinism", f"seeds {seed} and {seed + 1} gave identical models: seed is ignored")


def _check_causal(fail, model, tokens, logits, atol: float) -> None:
    """Change token t+1 (to another value) and require logits at positions <= t not to move."""
    length = tokens.shape[1]
    for t in sorted({0, length // 2, length - 2}):
        changed = tokens.clone()
        changed[:, t + 1] = (tokens[:, t + 1] + 1) % VOCAB
        out = model(changed)
        diff = (out[:, : t + 1] - logits[:, : t + 1]).abs().max().item()
        if not diff <= atol:
            fail(
                "causality",
                f"not causal: changing token {t + 1} moved the logits at positions <= {t} "
                f"by up to {diff:.2e} (atol {atol:g})",
            )
        if torch.equal(out[:, t + 1], logits[:, t + 1]):
            fail("causality", f"logits at position {t + 1} ignore the token there")


def _check_step(fail, model, tokens, logits, atol: float) -> dict[int, float]:
    """step() fed chunks of each size must reproduce forward() position by position."""
    errors = {}
    batch, length = tokens.shape
    for chunk in CHUNKS:
        state = model.init_state(batch, tokens.device)
        outs = []
        for start in range(0, length, chunk):
            out, state = model.step(tokens[:, start : start + chunk], state)
            outs.append(out)
        stepped = torch.cat(outs, dim=1)
        if stepped.shape != logits.shape:
            fail("step", f"step() in chunks of {chunk} gave shape {tuple(stepped.shape)}")
        err = (stepped - logits).abs()
        errors[chunk] = err.max().item()
        if not errors[chunk] <= atol:  # `not <=` also catches NaN
            pos = int(err.amax(dim=(0, 2)).argmax())
            fail(
                "step",
                f"step() fed in chunks of {chunk} disagrees with forward(): max |diff| "
                f"{errors[chunk]:.2e} (atol {atol:g}), first worst at position {pos}",
            )
    return errors


def _check_gradients(fail, model, tokens, gen) -> None:
    model.train()
    try:
        targets = torch.randint(CLASSES, tokens.shape, generator=gen).to(tokens.device)
        model.zero_grad(set_to_none=True)
        logits = model(tokens)
        F.cross_entropy(logits.flatten(0, 1), targets.flatten()).backward()
    finally:
        model.eval()
    params = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    missing = [n for n, p in params if p.grad is None]
    if missing:
        fail("gradients", f"no gradient reaches {missing[:5]} ({len(missing)} parameters)")
    bad = [n for n, p in params if not torch.isfinite(p.grad).all()]
    if bad:
        fail("gradients", f"non-finite gradients in {bad[:5]}")
    model.zero_grad(set_to_none=True)


def _check_length(fail, model, train_len: int, device) -> int | None:
    """Run at 4x the nominal training length, or honour a declared, smaller max_length."""
    long = LENGTH_FACTOR * train_len
    max_length = model.max_length
    ok_len = long if max_length is None else min(long, max_length)
    tokens = torch.randint(VOCAB, (1, ok_len), device=device)
    _check_logits(fail, "length", model(tokens), 1, ok_len)
    if max_length is not None and max_length <= MAX_PROBE:
        too_long = torch.randint(VOCAB, (1, max_length + 1), device=device)
        try:
            model(too_long)
        except Exception:
            return max_length
        fail("length", f"declares max_length={max_length} but accepted {max_length + 1} tokens")
    return max_length


def _check_state_size(fail, model, train_len: int) -> dict[int, int]:
    sizes = {}
    lengths = (1, train_len, LENGTH_FACTOR * train_len)
    for i, block in enumerate(model.blocks):
        for n in lengths:
            s = block.mixer.state_size(n)
            if not isinstance(s, numbers.Integral) or isinstance(s, bool) or s < 0:
                fail("state_size", f"layer {i}: state_size({n}) = {s!r}, not a non-negative int")
    for n in lengths:
        sizes[n] = model.state_size(n)
    if sorted(sizes.values()) != list(sizes.values()):
        fail("state_size", f"state_size shrinks as the sequence grows: {sizes}")
    return sizes
