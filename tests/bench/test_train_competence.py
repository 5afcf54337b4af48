"""Training to competence: the validation check, `learned`, the log, weight-decay groups."""

from __future__ import annotations

import math

import pytest
import statebench.tasks as tasks
import torch
from statebench.bench.config import TrainConfig
from statebench.bench.run.optim import no_decay_names, parameter_groups
from statebench.bench.run.train import train_model, validation_set
from statebench.models import build_model

CPU = torch.device("cpu")


def _train(**overrides) -> TrainConfig:
    base = {"steps": 300, "batch_size": 32, "lr": [1e-2], "warmup_steps": 10, "len_max": 12,
            "val_every": 25, "val_samples": 128, "log_every": 25}  # fmt: skip
    return TrainConfig(**{**base, **overrides})


def test_a_model_that_holds_the_target_stops_and_is_learned():
    task = tasks.get_task("parity")
    model = build_model("lstm", task.vocab_size, task.num_classes, 32, 1, seed=0)
    result = train_model(model, task, _train(), 1e-2, data_seed=1, device=CPU, val_seed=2)
    assert result.learned and result.val_accuracy >= 0.99
    # stopped once the target held at three consecutive checks, the first of them steps_to_target
    assert result.steps == result.steps_to_target + 2 * 25 < 300
    checks = [r for r in result.log if not math.isnan(r["val_accuracy"])]
    assert checks[-1]["step"] == result.steps and checks[-1]["tokens"] == result.tokens
    assert all(r["step"] % 25 == 0 for r in checks)


def test_a_model_that_does_not_reach_the_target_is_not_learned():
    task = tasks.get_task("parity")
    model = build_model("transformer", task.vocab_size, task.num_classes, 16, 1, seed=0)
    result = train_model(model, task, _train(steps=20), 1e-3, data_seed=1, device=CPU)
    assert not result.learned and result.steps_to_target is None and result.steps == 20
    assert 0.3 < result.val_accuracy < 0.9


def test_validation_set_is_fixed_by_its_seed_and_uses_the_given_lengths():
    task = tasks.get_task("flipflop")
    a = validation_set(task, _train(val_lengths=[9, 20]), 5, CPU)
    b = validation_set(task, _train(val_lengths=[9, 20]), 5, CPU)
    assert a.lengths == [8, 20]  # 9 is odd: flipflop makes the even length below it
    assert all(torch.equal(x.inputs, y.inputs) for x, y in zip(a.batches, b.batches, strict=True))
    default = validation_set(task, _train(len_min=1, len_max=12), 5, CPU)
    assert min(default.lengths) >= task.min_length and max(default.lengths) == 12


def test_no_weight_decay_on_biases_norms_embeddings_and_marked_parameters():
    model = build_model("mamba", 4, 2, 16, 1)
    exempt = no_decay_names(model)
    assert "embed.weight" in exempt and "norm.weight" in exempt
    assert any(n.endswith("A_log") for n in exempt) and any(n.endswith(".D") for n in exempt)
    assert not any(n.endswith("in_proj.weight") for n in exempt)
    griffin = build_model("hawk", 4, 2, 16, 1)
    exempt = no_decay_names(griffin)
    assert any(n.endswith("a_param") for n in exempt)
    assert any(n.endswith("gate_x_bias") for n in exempt)  # a 2-D bias
    decay, keep = parameter_groups(griffin, 0.1)
    assert decay["weight_decay"] == 0.1 and keep["weight_decay"] == 0.0
    n = sum(p.numel() for g in (decay, keep) for p in g["params"])
    assert n == griffin.num_params()


def test_learning_rate_is_chosen_on_validation_not_on_test_lengths():
    import pandas as pd
    from statebench.bench.analysis.selection import best_lr_on_validation, select_lr_on_validation

    rows = pd.DataFrame(
        {
            "cell": ["a", "a", "b", "b", "c", "c"],
            "arch": ["lstm"] * 6,
            "task": ["parity"] * 6,
            "lr": [1e-3, 1e-3, 1e-2, 1e-2, 1e-2, 1e-2],
            "seed": [0, 0, 0, 0, 1, 1],
            "val_accuracy": [0.9, 0.9, 1.0, 1.0, 0.96, 0.96],
            "val_loss": [0.3, 0.3, 0.01, 0.01, 0.1, 0.1],
            "ood_accuracy": [0.99, 0.99, 0.5, 0.5, 0.5, 0.5],  # better on test: not chosen
        }
    )
    assert best_lr_on_validation(rows)["lr"].tolist() == [1e-2]
    assert set(select_lr_on_validation(rows)["cell"]) == {"b", "c"}


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_every_device_sees_the_same_training_validation_and_eval_batches(monkeypatch):
    from statebench.bench.config import EvalConfig
    from statebench.bench.run.evaluate import evaluate

    task = tasks.get_task("parity")
    cls, real = type(task), type(task).sample
    drawn: dict[str, list[torch.Tensor]] = {"cpu": [], "cuda": []}
    for name, seen in drawn.items():

        def spy(self, *args, _seen=seen, **kwargs):
            batch = real(self, *args, **kwargs)
            _seen.append(batch.inputs.cpu())
            return batch

        monkeypatch.setattr(cls, "sample", spy)
        device = torch.device(name)
        model = build_model("lstm", task.vocab_size, task.num_classes, 16, 1, seed=0).to(device)
        train = _train(steps=3, batch_size=8, val_every=3, val_samples=8)
        train_model(model, task, train, 1e-3, data_seed=1, device=device)
        evaluate(model.eval(), task, EvalConfig(lengths=[16], samples=8), "parity", {}, device, 12)
    assert len(drawn["cpu"]) == len(drawn["cuda"]) > 3
    assert all(torch.equal(a, b) for a, b in zip(drawn["cpu"], drawn["cuda"], strict=True))
