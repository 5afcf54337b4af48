"""The t* estimator on synthetic curves: known drops, censoring, persistence, interval coverage."""

import math

import numpy as np
import pytest
from statebench.bench.probe.estimator import (
    critical_time,
    first_drop,
    geometric_edges,
    pooled_accuracy,
    threshold_value,
)


def bin_counts(correct_tokens: np.ndarray, edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-token correctness [n_seq, T] (positions 1..T) -> per-sequence bin counts."""
    n_seq, t = correct_tokens.shape
    bins = np.searchsorted(edges, np.arange(1, t + 1), side="right") - 1
    n_bins = len(edges) - 1
    correct = np.zeros((n_seq, n_bins), dtype=np.int64)
    scored = np.zeros((n_seq, n_bins), dtype=np.int64)
    for s in range(n_seq):
        correct[s] = np.bincount(bins, weights=correct_tokens[s], minlength=n_bins)
        scored[s] = np.bincount(bins, minlength=n_bins)
    return correct, scored


def bin_of(edges: np.ndarray, position: int) -> tuple[int, int]:
    b = int(np.searchsorted(edges, position, side="right") - 1)
    return int(edges[b]), int(edges[b + 1]) - 1


def test_edges_are_geometric_integer_and_cover_every_position():
    edges = geometric_edges(1 << 20, 8)
    assert edges[0] == 1 and edges[-1] == (1 << 20) + 1
    assert np.all(np.diff(edges) >= 1)
    widths = np.diff(edges)[edges[:-1] >= 1024]
    ratios = (edges[1:] / edges[:-1])[edges[:-1] >= 1024]
    assert np.allclose(ratios, 2 ** (1 / 8), rtol=0.01)  # 8 per octave once bins exceed a token
    assert len(edges) - 1 < 8 * 21  # a few hundred bins, not a million: nothing per token
    assert widths.min() > 1
    assert list(geometric_edges(5, 8)) == [1, 2, 3, 4, 5, 6]


def test_half_threshold_is_halfway_between_chance_and_one():
    assert threshold_value("half", 0.5) == 0.75
    assert threshold_value("half", 0.2) == pytest.approx(0.6)
    assert threshold_value(0.9, 0.5) == 0.9
    with pytest.raises(ValueError, match="half"):
        threshold_value(1.5, 0.5)


def test_a_known_drop_at_100_is_found_in_its_bin():
    edges = geometric_edges(1000, 8)
    tokens = np.ones((8, 1000))
    tokens[:, 99:] = 0  # positions >= 100 wrong
    correct, scored = bin_counts(tokens, edges)
    ct = critical_time(correct, scored, edges, 0.75, n_boot=200)
    start, end = bin_of(edges, 100)
    assert not ct.censored
    assert start <= ct.t_star <= 100 <= end
    assert ct.t_star == start
    assert ct.lo <= 100 <= ct.hi
    assert ct.hi - ct.lo < 0.3 * 100  # resolution of about two bins, not a wide guess


def test_an_all_correct_curve_is_censored_at_the_reached_length():
    edges = geometric_edges(4096, 8)
    correct, scored = bin_counts(np.ones((4, 3000)), edges)  # stopped at 3000 of 4096
    ct = critical_time(correct, scored, edges, 0.75, reached_len=3000, n_boot=100)
    assert ct.censored and math.isnan(ct.t_star) and math.isnan(ct.hi)
    assert ct.lo == 3000


def test_a_short_dip_does_not_count_but_a_persistent_drop_does():
    acc = np.array([1.0, 1.0, 0.5, 1.0, 1.0, 0.5, 0.5, 0.5, 0.5])
    assert first_drop(acc, 0.75, persist=3)[0] == 5
    assert first_drop(acc, 0.75, persist=1)[0] == 2
    assert first_drop(acc[:7], 0.75, persist=3)[0] == -1  # a run cut off by the end: not yet
    batch = np.stack([acc, np.ones_like(acc)])
    assert list(first_drop(batch, 0.75, persist=3)) == [5, -1]


def test_wrong_from_the_first_token_gives_t_star_one():
    edges = geometric_edges(256, 8)
    correct, scored = bin_counts(np.zeros((4, 256)), edges)
    ct = critical_time(correct, scored, edges, 0.75, n_boot=50)
    assert ct.t_star == 1 and ct.lo == 1


def test_unscored_bins_are_left_out_not_read_as_zero():
    edges = geometric_edges(512, 8)
    correct, scored = bin_counts(np.ones((4, 512)), edges)
    correct[:, 20:23] = 0
    scored[:, 20:23] = 0  # three bins with nothing scored
    ct = critical_time(correct, scored, edges, 0.75, n_boot=50)
    assert ct.censored
    acc = pooled_accuracy(correct, scored)
    assert np.isnan(acc[20:23]).all() and (acc[~np.isnan(acc)] == 1).all()


def test_shapes_are_checked():
    edges = geometric_edges(64, 8)
    with pytest.raises(ValueError, match="n_bins"):
        critical_time(np.zeros((2, 3)), np.zeros((2, 3)), edges, 0.75)


@pytest.mark.parametrize(
    ("n_seq", "p_after"),
    [(16, 0.5), (8, 0.7)],  # a drop to chance; and one to just under the threshold
)
def test_bootstrap_interval_covers_the_true_t_star_at_least_90_percent(n_seq, p_after):
    """200 simulated experiments: Bernoulli correctness, p=0.99 before t0, p_after from t0 on."""
    rng = np.random.default_rng(7)
    edges = geometric_edges(2048, 8)
    t0, length = 300, 2048
    covered, widths, found = 0, [], 0
    for _ in range(200):
        p = np.where(np.arange(1, length + 1) < t0, 0.99, p_after)
        tokens = rng.random((n_seq, length)) < p
        correct, scored = bin_counts(tokens, edges)
        ct = critical_time(
            correct, scored, edges, 0.75, n_boot=200, seed=int(rng.integers(1 << 31))
        )
        if ct.censored:
            continue
        found += 1
        hi = ct.hi if math.isfinite(ct.hi) else length
        covered += ct.lo <= t0 <= hi
        widths.append(hi / ct.lo)
    assert found == 200
    assert covered / 200 >= 0.9
    assert np.median(widths) < 1.8  # a few bins at 8 per octave: informative, not vacuous


def test_noisy_accuracy_near_the_threshold_widens_the_interval():
    """Few sequences and a drop to just under the threshold: resamples disagree."""
    rng = np.random.default_rng(3)
    edges = geometric_edges(2048, 8)
    p = np.where(np.arange(1, 2049) < 300, 0.99, 0.72)
    sharp = critical_time(*bin_counts(rng.random((64, 2048)) < np.where(p < 0.9, 0.5, p), edges),
                          edges, 0.75, n_boot=300)  # fmt: skip
    vague = critical_time(*bin_counts(rng.random((4, 2048)) < p, edges), edges, 0.75, n_boot=300)
    sharp_width = sharp.hi / sharp.lo
    vague_width = (vague.hi if math.isfinite(vague.hi) else 2048) / vague.lo
    assert vague_width > sharp_width
