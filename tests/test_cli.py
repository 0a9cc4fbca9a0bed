"""The ``bcekit`` command line, run as a user runs it.

A few end-to-end runs go through a real subprocess (demo, Ctrl-C and resume, start-up cost);
the many bad-input cases go through click's CliRunner. Every failure must exit with status 2
and exactly one ``error: ...`` line on stderr, and leave nothing at the output path.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from sklearn import metrics as skm

from bcekit.cli.app import cli
from bcekit.data.bundled import TARGET_COLUMN, breast_cancer_table

BCEKIT = Path(sys.executable).with_name("bcekit")
ENV = {**os.environ, "PYTHONWARNINGS": "ignore", "COLUMNS": "120"}


def invoke(*args: object):
    return CliRunner().invoke(cli, [str(a) for a in args], prog_name="bcekit")


def assert_bad_input(result, *fragments: str) -> str:
    """Exit status 2, one ``error:`` line on stderr holding every fragment, no traceback."""
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("cli")


@pytest.fixture(scope="module")
def bc_csv(workdir):
    path = workdir / "bc.csv"
    pcsv.write_csv(breast_cancer_table(), path)
    return path


@pytest.fixture(scope="module")
def mlp_run(workdir, bc_csv):
    out = workdir / "mlp-run"
    result = invoke(
        "train", bc_csv, "--target", TARGET_COLUMN, "--output", out, "--model", "mlp",
        "--epochs", 15, "--quiet",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    return out


# --------------------------------------------------------------------------- start-up


def test_help_is_fast_and_imports_nothing_heavy():
    probe = (
        "import sys, time, json, contextlib, io\n"
        "t = time.process_time()\n"
        "from bcekit.cli.app import run\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    codes = [run(['--help']), run(['train', '--help']), run(['demo', '--help'])]\n"
        "heavy = [m for m in ('numba', 'sklearn', 'matplotlib', 'pyarrow', 'numpy', 'rich')\n"
        "         if m in sys.modules]\n"
        "print(json.dumps({'codes': codes, 'heavy': heavy, 's': time.process_time() - t}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, env=ENV
    )
    report = json.loads(out.stdout)
    assert report["codes"] == [0, 0, 0], report
    assert report["heavy"] == [], report
    assert report["s"] < 0.5, report  # CPU seconds, so that a busy machine does not count


def test_help_lists_commands_and_examples():
    result = invoke("--help")
    assert result.exit_code == 0
    for command in ("demo", "train", "evaluate", "predict", "bench"):
        assert command in result.stdout
    assert "Examples:" in result.stdout and "bcekit demo" in result.stdout
    train_help = invoke("train", "--help").stdout
    assert "--resume" in train_help and "Examples:" in train_help


def test_version():
    result = invoke("--version")
    assert result.exit_code == 0
    assert result.stdout.strip() == "bcekit, version 0.1.0"


# --------------------------------------------------------------------------- end to end


def test_demo_end_to_end(tmp_path):
    out = tmp_path / "report"
    proc = subprocess.run(
        [BCEKIT, "demo", "--output", out], capture_output=True, text=True, env=ENV, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    files = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    expected = {"metrics.json", "report.html", "loss_curve.png", "roc.png", "pr.png"}
    expected |= {"calibration.png"}
    for model in ("logistic", "mlp"):
        expected |= {f"{model}/model.safetensors", f"{model}/model.json"}
        expected |= {f"{model}/preprocess.json"}
    assert files == expected
    for model in ("logistic", "mlp"):
        assert model in proc.stdout
    metrics = json.loads((out / "metrics.json").read_text())["models"]
    assert set(metrics) == {"logistic", "mlp"}
    assert all(m["roc_auc"] > 0.95 and m["accuracy"] > 0.9 for m in metrics.values())
    page = (out / "report.html").read_text()
    assert '<tr data-model="logistic">' in page and '<tr data-model="mlp">' in page
    assert page.count('src="data:image/png;base64,') == 4
    # the saved demo models are ordinary model folders
    again = invoke("evaluate", out / "mlp", tmp_path / "missing.csv")
    assert_bad_input(again, "missing.csv: no such file")


def test_train_evaluate_predict_agree_with_the_model(mlp_run, bc_csv, tmp_path):
    from bcekit import io
    from bcekit.data.tables import TablePreprocessor, read_table

    assert (mlp_run / "report.html").is_file() and (mlp_run / "loss_curve.png").is_file()
    assert not (mlp_run / "checkpoint").exists()
    model = io.load(mlp_run)
    pre = TablePreprocessor.from_dict(json.loads((mlp_run / "preprocess.json").read_text()))
    table = read_table(bc_csv)
    proba = model.predict_proba(pre.transform(table))[:, 1]
    y = np.array(table.column(TARGET_COLUMN).to_pylist()) == "malignant"

    result = invoke("evaluate", mlp_run, bc_csv, "--target", TARGET_COLUMN, "--json")
    assert result.exit_code == 0, result.stderr
    scores = json.loads(result.stdout)["models"]["mlp-run"]
    assert scores["n_samples"] == 569
    assert scores["log_loss"] == pytest.approx(skm.log_loss(y, proba))
    assert scores["roc_auc"] == pytest.approx(skm.roc_auc_score(y, proba))

    table_view = invoke("evaluate", mlp_run, bc_csv)
    assert table_view.exit_code == 0 and "log loss" in table_view.stdout

    renamed = tmp_path / "renamed.parquet"
    names = ["truth" if c == TARGET_COLUMN else c for c in table.column_names]
    pq.write_table(table.rename_columns(names), renamed)
    result = invoke("evaluate", mlp_run, renamed, "--target", "truth", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["models"]["mlp-run"] == scores

    for name in ("pred.csv", "pred.parquet"):
        result = invoke("predict", mlp_run, bc_csv, "--output", tmp_path / name, "--quiet")
        assert result.exit_code == 0, result.stderr
        reader = pcsv.read_csv if name.endswith(".csv") else pq.read_table
        written = reader(tmp_path / name)
        assert written.column_names[-2:] == ["probability", "label"]
        np.testing.assert_allclose(written.column("probability").to_numpy(), proba, rtol=1e-12)
        labels = np.where(proba > 0.5, "malignant", "benign")
        assert written.column("label").to_pylist() == labels.tolist()


def test_train_options_reach_the_model(bc_csv, tmp_path):
    out = tmp_path / "run"
    result = invoke(
        "train", bc_csv, "--target", TARGET_COLUMN, "--output", out, "--model", "mlp",
        "--hidden", "8,4", "--epochs", 3, "--batch-size", 50, "--pos-weight", "balanced",
        "--label-smoothing", 0.1, "--learning-rate", 0.01, "--seed", 3,
        "--features", "mean radius,mean texture", "--features", "worst area", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    from bcekit import io

    params = io.load(out).get_params()
    assert tuple(params["hidden_layer_sizes"]) == (8, 4)
    assert params["max_iter"] == 3 and params["batch_size"] == 50
    assert params["pos_weight"] == "balanced" and params["label_smoothing"] == 0.1
    assert params["learning_rate_init"] == 0.01 and params["random_state"] == 3
    pre = json.loads((out / "preprocess.json").read_text())
    assert pre["columns"] == ["mean radius", "mean texture", "worst area"]
    assert json.loads(result.stdout)["models"]["mlp"]["n_samples"] == 114


def test_train_logistic_by_default(bc_csv, tmp_path):
    from bcekit import io

    out = tmp_path / "run"
    result = invoke("train", bc_csv, "--target", TARGET_COLUMN, "-o", out, "--epochs", 5)
    assert result.exit_code == 0, result.stderr
    model = io.load(out)
    assert type(model).__name__ == "LogisticRegression"
    assert model.get_params()["max_iter"] == 5 and len(model.history_) == 5
    assert all(r["val_loss"] > 0 for r in model.history_)  # a validation curve per epoch
    scores = json.loads((out / "metrics.json").read_text())["models"]["logistic"]
    assert scores["roc_auc"] > 0.95


@pytest.mark.parametrize("kind", ["logistic", "mlp"])
def test_train_shows_a_progress_bar_unless_quiet(bc_csv, tmp_path, monkeypatch, kind):
    from bcekit.training import loop

    monkeypatch.setattr(loop, "progress_visible", lambda verbose: verbose > 0)  # as on a tty
    args = ["train", bc_csv, "--target", TARGET_COLUMN, "--model", kind, "--epochs", 2]
    shown = invoke(*args, "-o", tmp_path / "a")
    assert shown.exit_code == 0, shown.stderr
    assert "epoch" in shown.stderr and "2/2" in shown.stderr
    quiet = invoke(*args, "-o", tmp_path / "b", "--quiet")
    assert quiet.exit_code == 0 and quiet.stderr == ""


def test_training_problems_are_bad_input(bc_csv, tmp_path):
    out = tmp_path / "run"
    args = ["train", bc_csv, "--target", TARGET_COLUMN, "-o", out, "--epochs", 2]
    assert_bad_input(
        invoke(*args, "--loss", "focal", "--pos-weight", 2), "--pos-weight applies to --loss bce"
    )
    assert_bad_input(
        invoke(*args, "--learning-rate", "1e300", "--quiet"),
        "training diverged at epoch 1",
        "pass a smaller --learning-rate",
    )
    assert_bad_input(
        invoke(*args, "--validation-fraction", "0.001"), "too few to hold out --validation-fraction"
    )
    assert not out.exists()


def test_one_hot_and_impute_through_the_cli(tmp_path):
    rng = np.random.default_rng(0)
    n = 300
    city = rng.choice(["Paris", "Lyon", "Nice"], n)
    age = rng.normal(40, 10, n)
    y = (city == "Paris") ^ (rng.random(n) < 0.1)
    table = pa.table(
        {
            "age": pa.array(np.where(rng.random(n) < 0.1, np.nan, age), from_pandas=True),
            "city": city,
            "y": np.where(y, "yes", "no"),
        }
    )
    data = tmp_path / "people.csv"
    pcsv.write_csv(table, data)
    out = tmp_path / "run"
    plain = invoke("train", data, "--target", "y", "--output", out, "--model", "mlp")
    line = assert_bad_input(plain, "non-numeric feature columns 'city'", "--one-hot", "--drop city")
    assert line.startswith(f"error: {data}: ")
    assert not out.exists()
    no_impute = invoke("train", data, "--target", "y", "--output", out, "--one-hot")
    assert_bad_input(no_impute, "column 'age' has missing values (first at row", "--impute mean|")
    result = invoke(
        "train", data, "--target", "y", "--output", out, "--model", "mlp", "--one-hot",
        "--impute", "median", "--epochs", 20, "--learning-rate", 0.01, "--quiet",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    pre = json.loads((out / "preprocess.json").read_text())
    assert pre["categories"] == {"city": ["Lyon", "Nice", "Paris"]}
    # the median of the training rows only (80% of them): near that of all rows, not equal
    ages = np.asarray(table.column("age"))
    fill = pre["fill_values"]["age"]
    assert fill != pytest.approx(np.nanmedian(ages), abs=1e-12)
    assert fill == pytest.approx(np.nanmedian(ages), abs=1.5)
    scores = json.loads((out / "metrics.json").read_text())["models"]["mlp"]
    assert scores["accuracy"] > 0.8


# --------------------------------------------------------------------------- bad input


def write_bytes(path: Path, content: bytes) -> Path:
    path.write_bytes(content)
    return path


BAD_TABLES = {
    "empty": (b"", "the file is empty"),
    "header only": (b"a,b,y\n", "no data rows"),
    "ragged": (b"a,b,y\n1,2,0\n3,4\n5,6,1\n", "line 3 has 2 fields but the header has 3"),
    "binary": (bytes(range(256)) * 8, "not a CSV (UTF-8 text) or Parquet file"),
    "one class": (b"a,b,y\n1,2,1\n3,4,1\n", "target column 'y' has a single class 1"),
    "three classes": (b"a,b,y\n1,2,0\n3,4,1\n5,6,2\n", "target column 'y' has 3 distinct"),
    "no target": (b"a,b,z\n1,2,0\n3,4,1\n", "no target column 'y'; the columns are"),
    "missing": (b"a,b,y\n1,2,0\n3,,1\n", "column 'b' has missing values (first at row 2)"),
}


@pytest.mark.parametrize("case", sorted(BAD_TABLES))
def test_train_refuses_bad_tables(tmp_path, case):
    content, fragment = BAD_TABLES[case]
    data = write_bytes(tmp_path / "data.csv", content)
    out = tmp_path / "out"
    line = assert_bad_input(invoke("train", data, "--target", "y", "--output", out), fragment)
    assert str(data) in line
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["data.csv"]  # no temporary left either


def test_train_refuses_missing_and_unreadable_files(tmp_path):
    out = tmp_path / "out"
    assert_bad_input(
        invoke("train", tmp_path / "nope.csv", "--target", "y", "--output", out),
        "nope.csv: no such file",
    )
    assert_bad_input(invoke("train", tmp_path, "--target", "y", "--output", out), "is a directory")
    blocker = write_bytes(tmp_path / "file", b"x")
    assert_bad_input(
        invoke("train", blocker / "data.csv", "--target", "y", "--output", out),
        "cannot read the file",
    )
    assert not out.exists()


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--pos-weight", "heavy"], "expected 'balanced' or a positive number; got 'heavy'"),
        (["--pos-weight", "-1"], "expected 'balanced' or a positive number"),
        (["--label-smoothing", "1"], "--label-smoothing"),
        (["--model", "forest"], "'forest' is not one of 'logistic', 'mlp'"),
        (["--epochs", "0"], "--epochs"),
        (["--hidden", "8,x"], "expected positive integers like 64,32"),
        (["--validation-fraction", "1.5"], "--validation-fraction"),
    ],
)
def test_train_refuses_bad_options(bc_csv, tmp_path, args, fragment):
    out = tmp_path / "out"
    result = invoke("train", bc_csv, "--target", TARGET_COLUMN, "--output", out, *args)
    line = assert_bad_input(result, fragment)
    assert "bcekit train --help" in line
    assert not out.exists()


def test_usage_errors_are_one_line(bc_csv, tmp_path):
    assert_bad_input(invoke("train", bc_csv, "--output", tmp_path / "o"), "--target")
    assert_bad_input(invoke("frobnicate"), "No such command 'frobnicate'")
    assert_bad_input(invoke("evaluate"), "Missing argument 'MODEL_DIR'")


def test_output_folder_checks(bc_csv, tmp_path):
    args = ["train", bc_csv, "--target", TARGET_COLUMN, "--epochs", 1]
    assert_bad_input(invoke(*args, "--output", tmp_path / "no" / "such" / "dir"), "does not exist")
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "thesis.tex").write_text("do not delete")
    assert_bad_input(invoke(*args, "--output", precious), "holds other files")
    assert (precious / "thesis.tex").read_text() == "do not delete"
    taken = write_bytes(tmp_path / "taken", b"")
    assert_bad_input(invoke(*args, "--output", taken), "is not a folder")
    earlier = tmp_path / "earlier"
    assert invoke(*args, "--output", earlier, "--quiet").exit_code == 0
    (earlier / "metrics.json").write_text("stale")
    assert invoke(*args, "--output", earlier, "--quiet").exit_code == 0
    assert json.loads((earlier / "metrics.json").read_text())["models"]["logistic"]


def test_debug_shows_the_traceback(tmp_path):
    result = invoke("--debug", "evaluate", tmp_path / "absent", tmp_path / "x.csv")
    assert result.exit_code == 2
    assert "Traceback" in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: ")


@pytest.fixture
def model_copy(mlp_run, tmp_path):
    import shutil

    copy = tmp_path / "model"
    shutil.copytree(mlp_run, copy)
    return copy


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def edit_weight(path: Path) -> None:
    raw = bytearray(path.read_bytes())
    raw[-3] ^= 0xFF
    path.write_bytes(bytes(raw))


def edit_json(path: Path) -> None:
    document = json.loads(path.read_text())
    document["n_features_in"] = 7
    path.write_text(json.dumps(document))


CORRUPTIONS = {
    "truncated weights": ("model.safetensors", truncate, "the model file is unusable"),
    "edited weights": ("model.safetensors", edit_weight, "the model file is unusable"),
    "truncated json": ("model.json", truncate, "the model file is unusable"),
    "edited json": ("model.json", edit_json, "the model file is unusable"),
    "missing json": ("model.json", Path.unlink, "missing model.json"),
    "truncated preprocess": ("preprocess.json", truncate, "preprocess.json is not valid JSON"),
    "missing preprocess": ("preprocess.json", Path.unlink, "missing preprocess.json"),
}


@pytest.mark.parametrize("case", sorted(CORRUPTIONS))
def test_corrupt_model_folders(model_copy, bc_csv, tmp_path, case):
    name, damage, fragment = CORRUPTIONS[case]
    damage(model_copy / name)
    assert_bad_input(invoke("evaluate", model_copy, bc_csv), fragment)
    out = tmp_path / "pred.csv"
    assert_bad_input(invoke("predict", model_copy, bc_csv, "-o", out), fragment)
    assert not out.exists()


def test_data_that_does_not_fit_the_model(mlp_run, bc_csv, tmp_path):
    table = breast_cancer_table()
    fewer = tmp_path / "fewer.parquet"
    pq.write_table(table.drop_columns(["mean radius"]), fewer)
    out = tmp_path / "pred.csv"
    assert_bad_input(
        invoke("predict", mlp_run, fewer, "-o", out),
        "the model's feature columns 'mean radius' are missing",
    )
    extra = tmp_path / "extra.csv"
    pcsv.write_csv(table.append_column("id", pa.array(np.arange(569))), extra)
    assert_bad_input(
        invoke("predict", mlp_run, extra, "-o", out), "columns 'id' were not among", "--drop id"
    )
    assert not out.exists()
    assert invoke("predict", mlp_run, extra, "-o", out, "--drop", "id").exit_code == 0
    relabelled = tmp_path / "relabelled.csv"
    column = pa.array(["yes"] * 569)
    pcsv.write_csv(table.set_column(30, TARGET_COLUMN, column), relabelled)
    assert_bad_input(
        invoke("evaluate", mlp_run, relabelled),
        "has the value 'yes' at row 1, not one of the model's classes 'benign', 'malignant'",
    )
    assert_bad_input(
        invoke("predict", mlp_run, bc_csv, "-o", tmp_path / "p.xlsx"), "end the name in .csv"
    )


# --------------------------------------------------------------------------- bench


def test_bench_runs_the_checkout_benchmarks(monkeypatch, tmp_path):
    from bcekit.cli import bench

    package = tmp_path / "benchmarks"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "__main__.py").write_text(
        "import sys, pathlib\n"
        f"pathlib.Path({str(tmp_path / 'ran.txt')!r}).write_text(' '.join(sys.argv[1:]))\n"
    )
    monkeypatch.setattr(bench, "find_benchmarks", lambda: tmp_path)
    monkeypatch.delitem(sys.modules, "benchmarks", raising=False)
    result = invoke("bench", "losses", "--quick")
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "ran.txt").read_text() == "losses --quick"
    monkeypatch.delitem(sys.modules, "benchmarks", raising=False)
    monkeypatch.setattr(bench, "find_benchmarks", lambda: None)
    assert_bad_input(invoke("bench"), "no benchmarks/ folder found")


# --------------------------------------------------------------------------- Ctrl-C


@pytest.fixture(scope="module")
def big_parquet(workdir):
    rng = np.random.default_rng(0)
    n, d = 60_000, 10
    X = rng.normal(size=(n, d))
    y = X @ rng.normal(size=d) + rng.normal(size=n) > 0
    columns = {f"x{j}": X[:, j] for j in range(d)}
    columns["y"] = np.where(y, "yes", "no")
    path = workdir / "big.parquet"
    pq.write_table(pa.table(columns), path)
    return path


def _wait_for_cpu_seconds(pid: int, seconds: float, timeout: float = 180.0) -> None:
    """Wait until process ``pid`` has used ``seconds`` of CPU: a wall-clock wait would count
    the time a loaded machine gives to other processes."""
    ticks = os.sysconf("SC_CLK_TCK")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        if (int(fields[11]) + int(fields[12])) / ticks >= seconds:  # utime + stime
            return
        time.sleep(0.05)
    raise AssertionError(f"the training process used under {seconds} s of CPU in {timeout} s")


def test_ctrl_c_writes_model_and_checkpoint_then_resume_finishes(big_parquet, tmp_path):
    out = tmp_path / "run"
    # Epochs long enough that early stopping comes well after the Ctrl-C.
    base = [
        BCEKIT, "train", str(big_parquet), "--target", "y", "--model", "mlp", "--hidden", "256,256",
    ]  # fmt: skip
    command = [*base, "--output", str(out), "--epochs", "500", "--batch-size", "32"]
    # Two one-epoch runs: the first fills Numba's cache, the second measures the CPU time of
    # start-up plus one epoch; Ctrl-C comes a second of CPU time after that point.
    for warm in ("cold", "warm"):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        one_epoch = [*base, "--output", str(tmp_path / warm), "--epochs", "1", "--batch-size", "32"]
        subprocess.run(one_epoch, check=True, capture_output=True, env=ENV, timeout=300)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    startup = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    proc = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=ENV)
    started = proc.stderr.readline()
    assert started.startswith("training mlp on 48000 rows"), started
    _wait_for_cpu_seconds(proc.pid, startup + 1.0)
    proc.send_signal(signal.SIGINT)
    _, rest = proc.communicate(timeout=60)
    assert proc.returncode == 130, rest
    lines = rest.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("interrupted after "), rest
    assert "Traceback" not in rest
    for name in ("model.safetensors", "model.json", "preprocess.json"):
        assert (out / name).is_file()
    for name in ("state.safetensors", "state.json", "preprocess.json", "run.json"):
        assert (out / "checkpoint" / name).is_file()
    assert not (out / "report.html").exists()
    from bcekit.io import load_training_state

    state = load_training_state(out / "checkpoint")
    done = state["epoch"]
    assert done >= 1 and len(state["history"]) == done
    assert state["optimizer"]["type"] == "Adam" and state["optimizer"]["step"] > 0
    assert f"interrupted after {done} epochs" in lines[0]
    # the interrupted model is usable as it is
    assert invoke("evaluate", out, big_parquet, "--quiet").exit_code == 0

    changed = invoke(
        "train", big_parquet, "--target", "y", "--output", out, "--resume", out,
        "--model", "logistic",
    )  # fmt: skip
    assert_bad_input(changed, "--model 'logistic' differs from the interrupted run's 'mlp'")
    resumed = subprocess.run(
        [*command[:-4], "--resume", str(out), "--epochs", str(done + 2), "--quiet"],
        capture_output=True, text=True, env=ENV, timeout=120,
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    assert (out / "report.html").is_file() and not (out / "checkpoint").exists()
    history = json.loads((out / "model.json").read_text())["history"]
    assert [r["epoch"] for r in history] == list(range(1, len(history) + 1))
    assert done < len(history) <= done + 2
    assert history[:done] == state["history"]  # the first epochs are those of the checkpoint
