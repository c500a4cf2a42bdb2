"""The shared training core on a real tiny network: resume equivalence, the resume rule, the record."""

import math
import random

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from vocalsep.errors import InputError
from vocalsep.history import Curve, write_history
from vocalsep.training import (
    Checkpointer,
    Draws,
    EpochPlan,
    TrainState,
    optimise,
    read_checkpoint,
    run_epochs,
    seed_everything,
)

CURVE = Curve(title="tiny", losses={"train_loss": "training", "valid_loss": "validation"}, loss_label="MSE",
              scores={"score": "minus MSE"}, score_label="score")
WEIGHTS = torch.tensor([[1.0], [-2.0], [0.5]])


def tiny_run(folder, epochs, stop_after=None, name="tiny{epoch}.pt", key="k", width=8, keep=0, plateau=False):
    """A dropout MLP learning a linear map from batches drawn from a numpy and a torch generator;
    returns (history, state, the folder's checkpointer)."""
    seed_everything(5)
    rng, gen = np.random.default_rng(5), torch.Generator().manual_seed(5)
    model = torch.nn.Sequential(torch.nn.Linear(3, width), torch.nn.Dropout(0.3), torch.nn.Linear(width, 1))
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    sched = (torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="max", patience=0, factor=0.5) if plateau
             else torch.optim.lr_scheduler.ExponentialLR(opt, gamma=0.8))
    state = TrainState(model, opt, sched, numpy_rngs=(rng,), torch_rngs=(gen,))
    checkpointer = Checkpointer(folder, name, key=key, fixed={"width": width}, keep=keep, best_name="best.pt",
                                extra={"note": "tiny"})
    last = checkpointer.resume(state, epochs)
    x_valid = torch.from_numpy(np.random.default_rng(99).standard_normal((16, 3)).astype(np.float32))

    def draw():
        x = torch.from_numpy(rng.standard_normal((4, 3)).astype(np.float32))
        return x + 0.1 * torch.randn(x.shape, generator=gen), x @ WEIGHTS

    def step(batch):
        x, y = batch
        return optimise(state, F.mse_loss(model(x), y), clip=1.0)

    def validate():
        model.eval()
        with torch.no_grad():
            loss = float(F.mse_loss(model(x_valid), x_valid @ WEIGHTS))
        return {"valid_loss": loss, "score": -loss}

    def row(epoch, train_loss, metrics, seconds):
        return {"epoch": epoch, "train_loss": train_loss, **metrics, "lr": opt.param_groups[0]["lr"]}

    plan = EpochPlan(Draws(draw, 6), step, validate, row, score="score", curve=CURVE)
    history = run_epochs(state, plan, checkpointer, 0 if last is None else last + 1, epochs,
                         folder / "training.csv", progress=False, stop_after=stop_after)
    return history, state, checkpointer


def streams():
    """The global random streams' states, comparable with ==."""
    return random.getstate(), np.random.get_state()[1].tolist(), torch.get_rng_state().tolist()


@pytest.mark.parametrize("plateau", [False, True])
def test_half_the_epochs_then_a_resume_end_exactly_where_a_straight_run_does(tmp_path, one_torch_thread, plateau):
    straight, end_a, _ = tiny_run(tmp_path / "straight", 6, plateau=plateau)
    streams_a = streams()
    first, _, _ = tiny_run(tmp_path / "resumed", 6, stop_after=3, plateau=plateau)
    assert [r["epoch"] for r in first] == [0, 1, 2, 3]
    resumed, end_b, _ = tiny_run(tmp_path / "resumed", 6, plateau=plateau)
    assert [r["epoch"] for r in resumed] == list(range(7))
    assert math.isnan(straight[0]["train_loss"]) and math.isnan(resumed[0]["train_loss"])
    assert straight[1:] == resumed[1:] and straight[0]["valid_loss"] == resumed[0]["valid_loss"]
    assert straight[-1]["valid_loss"] < 0.5 * straight[0]["valid_loss"]  # it does learn
    for key, value in end_a.model.state_dict().items():
        assert torch.equal(value, end_b.model.state_dict()[key]), key
    for k, moments in end_a.optimizer.state_dict()["state"].items():
        assert torch.equal(moments["exp_avg_sq"], end_b.optimizer.state_dict()["state"][k]["exp_avg_sq"])
    assert end_a.scheduler.state_dict() == end_b.scheduler.state_dict()
    assert streams() == streams_a  # and the global streams continue the same
    assert end_a.numpy_rngs[0].bit_generator.state == end_b.numpy_rngs[0].bit_generator.state
    assert torch.equal(end_a.torch_rngs[0].get_state(), end_b.torch_rngs[0].get_state())
    assert (end_a.best_epoch, end_a.best_score) == (end_b.best_epoch, end_b.best_score)
    # Every checkpoint is plain data: weights_only loading reads it, the extra entries included.
    saved = torch.load(tmp_path / "resumed" / "tiny6.pt", weights_only=True)
    assert saved["epoch"] == 6 and saved["note"] == "tiny" and saved["history"][1:] == resumed[1:]
    best = torch.load(tmp_path / "resumed" / "best.pt", weights_only=True)
    assert best["epoch"] == end_b.best_epoch and best["score"] == max(r["score"] for r in resumed)
    # A finished run trains nothing more.
    again, _, _ = tiny_run(tmp_path / "resumed", 6, plateau=plateau)
    assert again[1:] == resumed[1:]


def test_the_resume_rule_falls_back_refuses_or_restarts_with_the_file_named(tmp_path, one_torch_thread):
    folder = tmp_path / "run"
    tiny_run(folder, 3)
    (folder / "tiny3.pt").write_bytes(b"\x00 truncated")  # the newest unreadable: the one before is used
    history, _, checkpointer = tiny_run(folder, 3)
    assert [r["epoch"] for r in history] == [0, 1, 2, 3] and sorted(checkpointer.files()) == [0, 1, 2, 3]
    with pytest.raises(InputError, match=r"tiny3\.pt: was trained with other settings \(width: 8 -> 16\); set them "
                                         r"back to resume, or delete .*run"):
        tiny_run(folder, 4, width=16)
    history, _, checkpointer = tiny_run(folder, 1, key="other code")  # other settings: start over
    assert [r["epoch"] for r in history] == [0, 1] and sorted(checkpointer.files()) == [0, 1]
    # Checkpoints of an older format (numpy arrays pickled) or foreign files are named, not a traceback.
    old = tmp_path / "old"
    old.mkdir()
    torch.save({"epoch": 2, "model": {}, "rng": {"numpy": np.random.get_state()}}, old / "tiny2.pt")
    torch.save({"epoch": 1, "model": {}}, old / "tiny1.pt")  # readable, but not a whole checkpoint
    with pytest.raises(InputError, match=r"tiny2\.pt: training checkpoint is corrupt or foreign, or of an older "
                                         r"format \(UnpicklingError\); delete .*old to start the training over"):
        tiny_run(old, 3)
    with pytest.raises(InputError, match=r"tiny1\.pt: .*older format \(ValueError\)"):
        read_checkpoint(old / "tiny1.pt")


def test_a_single_rolling_file_and_keeping_only_the_last_checkpoints(tmp_path, one_torch_thread):
    history, state, checkpointer = tiny_run(tmp_path / "one", 3, name="last.pt")
    assert checkpointer.files() == {-1: tmp_path / "one" / "last.pt"}
    assert read_checkpoint(tmp_path / "one" / "last.pt")["epoch"] == 3
    history, state, checkpointer = tiny_run(tmp_path / "kept", 6, keep=2, plateau=True)
    assert sorted(checkpointer.files()) == sorted({5, 6, state.best_epoch})


def test_history_csv_keeps_every_digit_and_the_curve_is_a_png(tmp_path):
    rows = [{"epoch": 0, "train_loss": float("nan"), "valid_loss": 0.1234567890123, "score": -0.5},
            {"epoch": 1, "train_loss": 2 / 3, "valid_loss": 0.1, "score": -0.25}]
    write_history(rows, tmp_path / "h.csv", tmp_path / "h.png", CURVE)
    lines = (tmp_path / "h.csv").read_text().split("\n")
    assert lines == ["epoch,train_loss,valid_loss,score", "0,nan,0.1234567890123,-0.5",
                     f"1,{2 / 3!r},0.1,-0.25", ""]
    assert (tmp_path / "h.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    write_history(rows, tmp_path / "only.csv")
    assert not (tmp_path / "only.png").exists()
