"""The Deletang protocol score: per-model mean accuracy over lengths >= min_len, max over cells."""

import pandas as pd
from statebench.bench.analysis.protocol import learned_table, protocol_scores, protocol_table
from statebench.bench.report import report_blocks


def _rows(learned=(False, True)):
    rows = []
    cells = [("a", 0, 1e-4, (1.0, 0.5, 0.7)), ("b", 1, 1e-4, (1.0, 0.9, 0.9))]
    for (cell, seed, lr, accs), held in zip(cells, learned, strict=True):
        for length, acc in zip((40, 41, 500), accs, strict=True):
            rows.append(dict(arch="lstm", arch_options="{}", task="parity", task_options="{}",
                             cell=cell, seed=seed, lr=lr, eval_len=length, accuracy=acc,
                             status="ok", train_len_max=40, learned=held))  # fmt: skip
    rows.append({**rows[-1], "cell": "c", "status": "diverged", "accuracy": float("nan")})
    return pd.DataFrame(rows)


def test_max_and_mean_over_cells_of_mean_accuracy_beyond_min_len():
    scores = protocol_scores(_rows(), {"aggregate": "max", "min_len": 41}, 40)
    row = scores.iloc[0]
    assert row["max"] == 0.9  # cell b: mean of 0.9, 0.9; length 40 excluded
    assert abs(row["mean"] - (0.6 + 0.9) / 2) < 1e-12
    assert (row["n_scored"], row["n_cells"]) == (2, 3)  # the diverged cell is counted, not scored
    assert row["n_learned"] == 1
    assert protocol_table(scores, "max").loc[0, "parity"] == "90.0"
    assert learned_table(scores).loc[0, "parity"] == "1 of 2"


def test_a_score_no_model_of_which_learned_the_task_says_so():
    scores = protocol_scores(_rows(learned=(False, False)), {"aggregate": "max", "min_len": 41}, 40)
    assert protocol_table(scores, "max").loc[0, "parity"] == "90.0 (not learned)"
    assert protocol_table(scores, "mean").loc[0, "parity"] == "75.0 (not learned)"
    assert learned_table(scores).loc[0, "parity"] == "0 of 2"


def test_rows_from_before_the_learned_flag_are_not_called_unlearned():
    rows = _rows().drop(columns="learned")
    scores = protocol_scores(rows, {"aggregate": "max", "min_len": 41}, 40)
    assert protocol_table(scores, "max").loc[0, "parity"] == "90.0"
    assert learned_table(scores).loc[0, "parity"] == "0 of 0"


def test_report_shows_protocol_score_only_when_configured():
    manifest = {"config": {"score": {"aggregate": "max", "min_len": 41}, "train": {"len_max": 40}}}
    texts = [b.text for b in report_blocks(_rows(), None, manifest) if b.kind == "heading"]
    assert "Protocol score" in texts
    plain = {"config": {"score": {"aggregate": "mean"}, "train": {"len_max": 40}}}
    texts = [b.text for b in report_blocks(_rows(), None, plain) if b.kind == "heading"]
    assert "Protocol score" not in texts
