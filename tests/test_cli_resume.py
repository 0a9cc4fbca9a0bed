"""``bcekit train``: Ctrl-C, checkpoint and ``--resume`` give the uninterrupted run's model.

The interruption is a real SIGINT that this process sends itself from a training callback,
at the end of an epoch or in the middle of one; the CLI runs in-process (click's CliRunner),
so the callback can be slipped into the estimator the command builds.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import signal

import numpy as np
import pyarrow.csv as pcsv
import pytest
from click.testing import CliRunner
from sklearn.metrics import log_loss

from bcekit import io
from bcekit.cli import fitting
from bcekit.cli.app import cli
from bcekit.data.bundled import TARGET_COLUMN, breast_cancer_table
from bcekit.training import Callback

EPOCHS = 6


def invoke(*args: object):
    return CliRunner().invoke(cli, [str(a) for a in args], prog_name="bcekit")


class SigintAt(Callback):
    """Send this process SIGINT after batch ``batch`` of epoch ``epoch`` (None: at its end)."""

    def __init__(self, epoch: int, batch: int | None) -> None:
        self.epoch, self.batch = epoch, batch

    def on_batch_end(self, trainer, batch, logs):
        if self.batch == batch and trainer.epoch + 1 == self.epoch:
            os.kill(os.getpid(), signal.SIGINT)

    def on_epoch_end(self, trainer, epoch, logs):
        if self.batch is None and epoch == self.epoch:
            os.kill(os.getpid(), signal.SIGINT)


@pytest.fixture(scope="module")
def bc_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("resume") / "bc.csv"
    pcsv.write_csv(breast_cancer_table(), path)
    return path


def train_args(data, out, kind):
    return [
        "train", data, "--target", TARGET_COLUMN, "--output", out, "--model", kind,
        "--epochs", EPOCHS, "--batch-size", 40, "--hidden", "6", "--seed", 4, "--quiet",
    ]  # fmt: skip


@pytest.fixture(scope="module")
def uninterrupted(bc_csv, tmp_path_factory):
    runs = {}
    for kind in ("mlp", "logistic"):
        out = tmp_path_factory.mktemp("full") / kind
        result = invoke(*train_args(bc_csv, out, kind))
        assert result.exit_code == 0, result.stderr
        runs[kind] = out
    return runs


def arrays(folder):
    return io.load(folder)._state_arrays()


def records(folder):
    history = json.loads((folder / "model.json").read_text())["history"]
    return [{k: v for k, v in r.items() if k != "time"} for r in history]


def interrupt(monkeypatch, epoch, batch):
    """Make the next ``bcekit train`` in this process receive SIGINT at that point."""
    build = fitting.build_estimator

    def build_with_signal(options, *, verbose):
        model = build(options, verbose=verbose)
        model.fit = functools.partial(model.fit, callbacks=[SigintAt(epoch, batch)])
        return model

    monkeypatch.setattr(fitting, "build_estimator", build_with_signal)


@pytest.mark.parametrize("kind", ["mlp", "logistic"])
@pytest.mark.parametrize(
    ("epoch", "batch", "done"), [(3, None, 3), (3, 4, 2)], ids=["epoch-end", "mid-epoch"]
)
def test_interrupted_and_resumed_run_equals_the_uninterrupted_one(
    bc_csv, tmp_path, monkeypatch, uninterrupted, kind, epoch, batch, done
):
    out = tmp_path / "run"
    with monkeypatch.context() as patch:
        interrupt(patch, epoch, batch)
        result = invoke(*train_args(bc_csv, out, kind))
    assert result.exit_code == 130, result.stderr
    assert result.stderr.startswith(f"interrupted after {done} epochs")
    state = io.load_training_state(out / "checkpoint")
    assert state["epoch"] == done
    assert records(out) == records(uninterrupted[kind])[:done]
    # the model written is the best epoch so far, which the state also holds
    best = min(range(done), key=lambda i: state["history"][i]["val_loss"])
    assert state["best_epoch"] == best + 1
    assert not (out / "report.html").exists()

    resumed = invoke("train", bc_csv, "--target", TARGET_COLUMN, "-o", out, "--resume", out)
    assert resumed.exit_code == 0, resumed.stderr
    assert not (out / "checkpoint").exists() and (out / "report.html").is_file()
    assert records(out) == records(uninterrupted[kind])
    mine, theirs = arrays(out), arrays(uninterrupted[kind])
    assert mine.keys() == theirs.keys()
    for name in mine:
        np.testing.assert_array_equal(mine[name], theirs[name], err_msg=name)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics == json.loads((uninterrupted[kind] / "metrics.json").read_text())


def test_logistic_records_a_validation_loss_curve(uninterrupted, bc_csv):
    from bcekit.data.tables import TablePreprocessor, read_table

    out = uninterrupted["logistic"]
    history = records(out)
    assert [r["epoch"] for r in history] == list(range(1, EPOCHS + 1))
    assert all(r["val_loss"] > 0 for r in history)
    # the model kept is that of the lowest validation loss: sklearn's log loss on those rows
    model = io.load(out)
    pre = TablePreprocessor.from_dict(json.loads((out / "preprocess.json").read_text()))
    table = read_table(bc_csv)
    y = pre.encode_target(table)
    _, val = fitting.split_rows(y, 0.2, 4, "bc.csv")
    proba = model.predict_proba(pre.transform(table)[val])
    best = min(r["val_loss"] for r in history)
    assert best == pytest.approx(log_loss(y[val], proba), rel=1e-9)
    assert json.loads((out / "metrics.json").read_text())["models"]["logistic"][
        "log_loss"
    ] == pytest.approx(best, rel=1e-9)


# --------------------------------------------------------------------------- bad checkpoints


@pytest.fixture(scope="module")
def interrupted(bc_csv, tmp_path_factory):
    out = tmp_path_factory.mktemp("cut") / "run"
    with pytest.MonkeyPatch.context() as patch:
        interrupt(patch, 2, None)
        result = invoke(*train_args(bc_csv, out, "mlp"))
    assert result.exit_code == 130, result.stderr
    return out


@pytest.fixture
def damaged(interrupted, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(interrupted, copy)
    return copy


def assert_bad_input(result, *fragments):
    assert result.exit_code == 2, (result.exit_code, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def resume(bc_csv, run, *extra):
    return invoke("train", bc_csv, "--target", TARGET_COLUMN, "-o", run, "--resume", run, *extra)


def flip_byte(path):
    raw = bytearray(path.read_bytes())
    raw[-2] ^= 0xFF
    path.write_bytes(bytes(raw))


def edit_json(path, change):
    document = json.loads(path.read_text())
    change(document)
    path.write_text(json.dumps(document))


DAMAGE = {
    "edited state": (
        lambda ck: flip_byte(ck / "state.safetensors"),
        "the training state is unusable",
    ),
    "missing state": (lambda ck: (ck / "state.json").unlink(), "the training state is unusable"),
    "missing run file": (lambda ck: (ck / "run.json").unlink(), "no checkpoint/run.json there"),
    "old run format": (
        lambda ck: edit_json(ck / "run.json", lambda d: d.update(format="bcekit.train-run/1")),
        "written by another bcekit version",
    ),
    "edited options": (
        lambda ck: edit_json(ck / "run.json", lambda d: d["options"].pop("seed")),
        "is corrupt or edited",
    ),
    "broken preprocess": (
        lambda ck: (ck / "preprocess.json").write_text("{"),
        "is corrupt or edited",
    ),
}


@pytest.mark.parametrize("case", sorted(DAMAGE))
def test_damaged_checkpoints_are_bad_input(bc_csv, damaged, case):
    harm, fragment = DAMAGE[case]
    harm(damaged / "checkpoint")
    assert_bad_input(resume(bc_csv, damaged), fragment)
    assert (damaged / "checkpoint").is_dir()  # nothing was replaced


def test_resume_refuses_other_data_and_options(bc_csv, damaged, tmp_path):
    table = breast_cancer_table()
    other = tmp_path / "other.csv"
    pcsv.write_csv(table.slice(0, 400), other)
    assert_bad_input(resume(other, damaged), "is not the data the interrupted run trained on")
    assert_bad_input(
        resume(bc_csv, damaged, "--hidden", "7"),
        "--hidden [7] differs from the interrupted run's [6]",
    )
    assert_bad_input(resume(bc_csv, damaged, "--epochs", 2), "already trained 2 epochs")


def test_a_state_that_does_not_fit_the_model_is_bad_input(bc_csv, damaged):
    def other_shape(document):
        document["options"]["hidden"] = [5]

    edit_json(damaged / "checkpoint" / "run.json", other_shape)
    assert_bad_input(
        resume(bc_csv, damaged, "--quiet"), "cannot resume MLPClassifier", "must have shape"
    )


def test_resume_with_more_epochs_continues(bc_csv, damaged):
    result = resume(bc_csv, damaged, "--epochs", 4, "--quiet")
    assert result.exit_code == 0, result.stderr
    assert [r["epoch"] for r in records(damaged)] == [1, 2, 3, 4]
