"""rc_frame: parallel inside a frame, serial across frames, and streamable at any chunking."""

from __future__ import annotations

import pytest
import torch
from statebench.models import build_model, match_params
from statebench.models.rc_frame import RCFrameMixer


def _model(frame: int, seed: int = 0):
    return build_model("rc_frame", 6, 4, 16, 2, seed=seed, frame=frame).eval()


@pytest.mark.parametrize("frame", [1, 3, 8])
def test_step_with_ragged_chunks_equals_forward(frame):
    """Chunks that start and end anywhere inside frames (and span several) give forward()."""
    model = _model(frame)
    tokens = torch.randint(6, (3, 40), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        full = model(tokens)
        state, outs, start = model.init_state(3), [], 0
        for size in (2, 5, 1, 8, 11, 3, 10):
            out, state = model.step(tokens[:, start : start + size], state)
            outs.append(out)
            start += size
    assert start == 40
    torch.testing.assert_close(torch.cat(outs, 1), full, atol=1e-5, rtol=0)


def test_the_lstm_carries_information_across_frames_and_the_head_works_inside_them():
    model = _model(frame=4)
    tokens = torch.randint(6, (1, 24), generator=torch.Generator().manual_seed(2))
    changed = tokens.clone()
    changed[0, 1] = (tokens[0, 1] + 1) % 6  # frame 0
    with torch.no_grad():
        a, b = model(tokens), model(changed)
    moved = (a - b).abs().amax(-1)[0]
    assert moved[0] == 0  # causal
    assert (moved[1:] > 0).all()  # inside frame 0 (the head) and every later frame (the LSTM)


def test_a_frames_last_token_reads_the_lstm_state_after_its_own_frame():
    """Inside the first frame the tokens before the last have seen no frame whole (they read
    the zero state, whatever the LSTM's weights); the last one has, and reads the state after
    it. With frame=1 every token is a frame's last: each reads the state after itself."""
    for frame, untouched in ((4, 3), (1, 0)):
        torch.manual_seed(0)
        mixer = RCFrameMixer(16, frame=frame)
        x = torch.randn(2, 8, 16)
        with torch.no_grad():
            before = mixer(x)
            for p in mixer.lstm.parameters():
                p.add_(0.5 * torch.randn_like(p))
            after = mixer(x)
        moved = (before - after).abs().amax(dim=(0, 2))
        assert (moved[:untouched] == 0).all() and (moved[untouched:] > 0).all()


def test_matches_a_parameter_budget_and_records_its_kernel():
    d = match_params("rc_frame", 100_000, vocab_size=16, num_classes=8, n_layers=2)
    got = build_model("rc_frame", 16, 8, d, 2).num_params()
    assert abs(got - 100_000) <= 10_000
    assert build_model("rc_frame", 16, 8, 16, 2).kernel == "sdpa+ref"


@pytest.mark.parametrize("frame", [0, -1, 2.0, True])
def test_bad_frame_is_refused(frame):
    with pytest.raises(ValueError, match="frame=.* must be an integer >= 1"):
        RCFrameMixer(16, frame=frame)
