"""The core of statebench in one page: a task, a model, training, evaluation, a score.

Run it: `python examples/minimal.py` (about a minute on one CPU core). Everything `statebench
run` does for a grid of cells (storage, resume, executors, reports) wraps these five steps.
"""

import pandas as pd
import torch
from statebench.bench.analysis.scores import headline_score
from statebench.bench.config import CellEval, CellTrain
from statebench.bench.run.evaluate import evaluate
from statebench.bench.run.train import train_model
from statebench.models import build_model
from statebench.tasks import get_task


def main(arch: str = "lstm", steps: int = 300) -> float:
    # 1. A task: parity of the bits so far, read at every position.
    task = get_task("parity")
    # 2. A model: the shared backbone around one architecture's token mixer.
    model = build_model(arch, task.vocab_size, task.num_classes, d_model=32, n_layers=1, seed=0)
    # 3. Train on lengths 1..16 until a held-out check reaches 99% (or the steps run out).
    train = CellTrain(steps=steps, batch_size=32, len_max=16, warmup_steps=20, val_every=50)
    result = train_model(model, task, train, lr=1e-2, data_seed=0, device=torch.device("cpu"))
    # 4. Evaluate at the training length and beyond it.
    rows = evaluate(
        model, task, CellEval(lengths=[16, 32, 64], samples=64), "parity", {},
        torch.device("cpu"), train_len_max=16,
    )  # fmt: skip
    # 5. Score: accuracy on the positions past the training range, 0 = chance, 1 = perfect.
    for row in rows:
        row.update(arch=arch, task="parity", seed=0, train_len_max=16, learned=result.learned)
    score = float(headline_score(pd.DataFrame(rows))["score"].iloc[0])
    print(
        f"{arch}: learned={result.learned} after {result.steps} steps; beyond training {score:.2f}"
    )
    return score


if __name__ == "__main__":
    main()
