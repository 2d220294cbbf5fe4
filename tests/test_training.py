"""The training loop's own promises, on a tiny linear model (the loop does not care what it trains)."""
from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from graft import training


class _Linear(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(2, 2)

    def forward(self, features):
        return self.fc(features)


def _loader(x, y):
    def collate(batch):
        features, labels = torch.utils.data.default_collate(batch)
        return {"features": features}, labels

    return DataLoader(TensorDataset(x, y), batch_size=8, collate_fn=collate)


def _separable(n=32):
    x = torch.randn(n, 2, generator=torch.Generator().manual_seed(0))
    return x, (x[:, 0] > 0).long()


def _solved_model() -> _Linear:
    model = _Linear()
    with torch.no_grad():
        model.fc.weight.copy_(torch.tensor([[-5.0, 0.0], [5.0, 0.0]]))
        model.fc.bias.zero_()
    return model


def test_keep_incoming_never_returns_a_worse_model():
    x, y = _separable()
    model = _solved_model()
    solved = {k: v.clone() for k, v in model.state_dict().items()}
    # training on flipped labels at a huge learning rate can only make validation worse
    settings = training.TrainSettings(epochs=2, lr=10.0, schedule="constant", patience=None)
    history = training.fit(model, list(model.parameters()), _loader(x, 1 - y), _loader(x, y), settings,
                           keep_incoming=True)
    assert max(r["val_accuracy"] for r in history) < 1.0
    assert all(torch.equal(solved[k], v) for k, v in model.state_dict().items())


def test_patience_counts_from_the_phase_own_best_epoch_not_the_incoming_model(monkeypatch):
    """Fine-tuning often starts below the head phase and climbs past it: early stopping must let it."""
    scores = iter([0.80, 0.70, 0.72, 0.74, 0.76, 0.85])  # incoming model, then epochs 1-5
    monkeypatch.setattr(training, "_validate", lambda *args: (next(scores), 0.5))
    x, y = _separable()
    model = _Linear()
    settings = training.TrainSettings(epochs=5, lr=0.1, patience=2)
    history = training.fit(model, list(model.parameters()), _loader(x, y), _loader(x, y), settings,
                           keep_incoming=True)
    assert [r["val_accuracy"] for r in history] == [0.70, 0.72, 0.74, 0.76, 0.85]  # no early stop


def test_without_keep_incoming_the_best_epoch_is_returned():
    x, y = _separable()
    model = _solved_model()
    settings = training.TrainSettings(epochs=2, lr=10.0, schedule="constant", patience=None)
    history = training.fit(model, list(model.parameters()), _loader(x, 1 - y), _loader(x, y), settings)
    best = max(r["val_accuracy"] for r in history)
    logits = model(x)
    assert (logits.argmax(1) == y).float().mean().item() == best




def test_loader_workers_none_on_cpu_several_beside_a_gpu(monkeypatch):
    assert training.loader_workers(3) == 3  # what the user asked for wins
    monkeypatch.setattr(training, "device", lambda: torch.device("cpu"))
    assert training.loader_workers() == 0  # workers would take the model's cores
    monkeypatch.setattr(training, "device", lambda: torch.device("cuda", 0))
    import os

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(16)), raising=False)  # 16 usable CPUs
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "1")
    assert training.loader_workers() == 8
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")  # two GPU processes on this machine share its cores
    assert training.loader_workers() == 7
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0}, raising=False)
    assert training.loader_workers() == 0


def test_accelerate_launch_cpu_is_honoured_beside_a_gpu(monkeypatch):
    monkeypatch.setattr(training.torch.cuda, "is_available", lambda: True)
    assert not training._cpu_only()
    monkeypatch.setenv("ACCELERATE_USE_CPU", "1")  # what `accelerate launch --cpu` sets
    assert training._cpu_only()


def test_phases_may_use_different_precisions():
    """The head phase runs in fp32, fine-tuning may ask for bf16: one process must allow both in turn."""
    x, y = _separable()
    for precision in ("no", "bf16", "no"):
        model = _Linear()
        settings = training.TrainSettings(epochs=1, lr=0.1, mixed_precision=precision)
        history = training.fit(model, list(model.parameters()), _loader(x, y), _loader(x, y), settings)
        assert len(history) == 1


def test_patience_zero_turns_early_stopping_off(monkeypatch):
    scores = iter([0.9, 0.5, 0.5, 0.5, 0.5])  # epoch 1 is the best; nothing after it improves
    monkeypatch.setattr(training, "_validate", lambda *args: (next(scores), 0.5))
    x, y = _separable()
    model = _Linear()
    history = training.fit(model, list(model.parameters()), _loader(x, y), _loader(x, y),
                           training.TrainSettings(epochs=5, lr=0.1, patience=0))
    assert len(history) == 5


class _Regression(training.Objective):
    """A task-shaped objective that is not classification: mean squared error, lower is better."""

    monitor, mode = "val_mse", "min"

    def loss(self, model, batch):
        inputs, targets = batch
        return ((model(**inputs)[:, 0] - targets.float()) ** 2).mean(), len(targets)

    def validate(self, model, loader, acc):
        model.eval()
        with torch.no_grad():
            errors = [((model(**inputs)[:, 0] - targets.float()) ** 2) for inputs, targets in loader]
        mse = torch.cat(errors).mean().item()
        return {"val_loss": mse, "val_mse": mse}


def test_the_loop_keeps_the_best_epoch_by_a_task_metric_that_is_minimised():
    x, y = _separable()
    model = _Linear()
    # a huge constant learning rate makes later epochs worse: the loop must hand back the lowest-MSE epoch
    settings = training.TrainSettings(epochs=4, lr=3.0, schedule="constant", patience=None)
    history = training.fit(model, list(model.parameters()), _loader(x, y), _loader(x, y), settings,
                           objective=_Regression())
    best = min(r["val_mse"] for r in history)
    final = ((model(x)[:, 0] - y.float()) ** 2).mean().item()
    assert abs(final - best) < 1e-5
    assert all("val_accuracy" not in r for r in history)


def test_best_weights_are_kept_as_independent_host_copies():
    model = _solved_model()
    best = training.BestModel()
    assert best.offer((1.0, 0.0), model)
    with torch.no_grad():
        model.fc.weight.zero_()
    assert not best.offer((0.5, 0.0), model)  # worse: not taken
    assert all(v.device.type == "cpu" for v in best.state.values())
    best.restore(model)
    assert model.fc.weight.abs().sum() > 0  # the copy did not follow the in-place change


def test_gradients_are_clipped_when_asked(monkeypatch):
    from accelerate import Accelerator

    norms = []
    original = Accelerator.clip_grad_norm_
    monkeypatch.setattr(Accelerator, "clip_grad_norm_",
                        lambda self, params, max_norm, *a, **k: norms.append(max_norm) or original(self, params,
                                                                                                   max_norm, *a, **k))
    x, y = _separable()
    model = _Linear()
    training.fit(model, list(model.parameters()), _loader(x, y), None,
                 training.TrainSettings(epochs=1, lr=0.1, max_grad_norm=0.5))
    assert norms and set(norms) == {0.5}
    norms.clear()
    training.fit(model, list(model.parameters()), _loader(x, y), None, training.TrainSettings(epochs=1, lr=0.1))
    assert norms == []  # off by default for classification, whose measured recipes never clipped
