"""How ``bcekit train`` fits a model: split, estimator, Ctrl-C, checkpoint and resume.

The rows are split once, stratified and seeded, into training and validation rows; the
estimator trains on the first and reports its validation loss per epoch on the second.
Ctrl-C reaches :class:`bcekit.training.Trainer`, which finishes the current batch, puts the
best weights back and returns; the run then writes that model plus a ``checkpoint/`` folder
holding the estimator's :meth:`training_state` as of the last completed epoch (weights,
optimiser moments, History, early-stopping counters and shuffling seed, through
:func:`bcekit.io.save_training_state`), the preprocessing and the options. ``--resume``
builds the same estimator and continues from that state, so the run ends with the weights an
uninterrupted run would have had; an epoch cut short by Ctrl-C is run again from its start.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bcekit.cli.errors import CLIError

CHECKPOINT_DIR = "checkpoint"
RUN_FILE = "run.json"
RUN_FORMAT = "bcekit.train-run/2"

#: Options that define a run; a resumed run must keep them, except those in RESUME_MAY_CHANGE.
RUN_OPTIONS = (
    "target", "kind", "features", "drop", "one_hot", "impute", "pos_weight",
    "label_smoothing", "loss", "epochs", "batch_size", "learning_rate", "hidden",
    "validation_fraction", "seed",
)  # fmt: skip
RESUME_MAY_CHANGE = frozenset({"epochs"})


def build_estimator(options: dict[str, Any], *, verbose: int) -> Any:
    """The untrained estimator that ``options`` (the ``bcekit train`` options) describe."""
    import bcekit

    common = {
        "max_iter": options["epochs"],
        "batch_size": options["batch_size"],
        "pos_weight": options["pos_weight"],
        "label_smoothing": options["label_smoothing"],
        "loss": options["loss"],
        "random_state": options["seed"],
    }
    if options["kind"] == "mlp":
        if options["learning_rate"] is not None:
            common["learning_rate_init"] = options["learning_rate"]
        return bcekit.MLPClassifier(
            hidden_layer_sizes=tuple(options["hidden"]), verbose=verbose, **common
        )
    if options["learning_rate"] is not None:
        common["learning_rate"] = options["learning_rate"]
    return bcekit.LogisticRegression(solver="adam", verbose=verbose, **common)


def split_rows(y: np.ndarray, fraction: float, seed: int, source: str) -> tuple[Any, Any]:
    """Stratified, seeded training and validation row indices.

    Raises
    ------
    CLIError
        Too few rows of a class to put some on each side.
    """
    from sklearn.model_selection import train_test_split

    counts = np.bincount(y, minlength=2)
    n_val = int(np.ceil(fraction * len(y)))
    if counts.min() < 2 or n_val < 2 or len(y) - n_val < 2:
        raise CLIError(
            f"{source}: {len(y)} rows ({counts[0]} and {counts[1]} per class) are too few to "
            f"hold out --validation-fraction {fraction} with both classes on each side"
        )
    rows = np.arange(len(y))
    train, val = train_test_split(rows, test_size=n_val, stratify=y, random_state=seed)
    return np.sort(train), np.sort(val)


def fingerprint(X: np.ndarray, y: np.ndarray) -> str:
    """SHA-256 of the preprocessed data, to check that a resumed run sees the same rows."""
    digest = hashlib.sha256()
    digest.update(np.ascontiguousarray(X, dtype=np.float64).tobytes())
    digest.update(np.ascontiguousarray(y, dtype=np.int64).tobytes())
    return digest.hexdigest()


def fit(
    model: Any,
    X: np.ndarray,
    y: np.ndarray,
    X_val: np.ndarray,
    y_val: np.ndarray,
    *,
    resume_from: dict[str, Any] | None = None,
) -> bool:
    """Fit ``model`` with validation data, from ``resume_from`` if given; True if interrupted.

    The Trainer reports Ctrl-C with a :class:`~bcekit.training.TrainingInterrupted` warning
    and returns normally; that warning and convergence warnings stay off the terminal.

    Raises
    ------
    CLIError
        The estimator refused its parameters or the checkpoint's state, or training diverged.
    """
    from sklearn.exceptions import ConvergenceWarning

    from bcekit.nn import NetworkTooLargeError
    from bcekit.training import TrainingDivergedError, TrainingInterrupted

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("always", TrainingInterrupted)
        try:
            _check_memory(model, X)
            model.fit(X, y, X_val=X_val, y_val=y_val, resume_from=resume_from)
        except NetworkTooLargeError as exc:
            sizes = ",".join(map(str, model.hidden_layer_sizes))
            raise CLIError(f"--hidden {sizes}: {exc}; choose smaller --hidden sizes") from exc
        except TrainingDivergedError as exc:
            raise CLIError(
                f"training diverged at epoch {exc.epoch}: the {exc.quantity} became NaN or "
                f"infinite; pass a smaller --learning-rate (it was {exc.lr:g})"
            ) from exc
        except ValueError as exc:  # the estimator's parameter checks, a state that does not fit
            what = "resume" if resume_from is not None else "train"
            raise CLIError(f"cannot {what} {type(model).__name__}: {exc}") from exc
    for w in caught:
        if not issubclass(w.category, TrainingInterrupted):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return any(issubclass(w.category, TrainingInterrupted) for w in caught)


def _check_memory(model: Any, X: np.ndarray) -> None:
    """Refuse an MLP whose training would not fit in memory, before anything is allocated
    (:func:`bcekit.nn.sequential.mlp_bytes`: weights, gradients, optimiser state and a
    batch's activations)."""
    from bcekit.estimators import MLPClassifier
    from bcekit.nn.memory import require_memory
    from bcekit.nn.sequential import mlp_bytes

    if not isinstance(model, MLPClassifier):
        return
    batch = min(200 if model.batch_size == "auto" else int(model.batch_size), len(X))
    sizes = list(model.hidden_layer_sizes)
    require_memory(
        mlp_bytes(X.shape[1], sizes, 1, X.dtype, batch_size=batch),
        f"training an MLP of {X.shape[1]} inputs and hidden layers {sizes!r:.60} on batches "
        f"of {batch} rows",
    )


@dataclass
class Checkpoint:
    """What an interrupted ``bcekit train`` leaves to resume from.

    Attributes
    ----------
    options : dict
        The run's options (:data:`RUN_OPTIONS`).
    data_sha256 : str
        :func:`fingerprint` of the preprocessed data.
    preprocessor : TablePreprocessor
    state : dict
        The estimator's :meth:`training_state`, as of the last completed epoch.
    """

    options: dict[str, Any]
    data_sha256: str
    preprocessor: Any
    state: dict[str, Any]

    @property
    def epochs_done(self) -> int:
        return int(self.state["epoch"])

    def save(self, directory: Path) -> None:
        """Write the checkpoint folder: training state, preprocess.json and run.json."""
        from bcekit.cli.artifacts import PREPROCESS_FILE
        from bcekit.data.preprocessor import write_preprocessor
        from bcekit.io import save_training_state

        directory.mkdir(parents=True, exist_ok=True)
        save_training_state(self.state, directory)
        write_preprocessor(directory / PREPROCESS_FILE, self.preprocessor)
        document = {
            "format": RUN_FORMAT,
            "options": self.options,
            "data_sha256": self.data_sha256,
        }
        text = json.dumps(document, indent=2, allow_nan=False)
        (directory / RUN_FILE).write_text(text + "\n", encoding="utf-8")

    @classmethod
    def load(cls, run_dir: Path) -> Checkpoint:
        """Read ``run_dir/checkpoint`` (or ``run_dir`` itself if it is the checkpoint folder).

        Raises
        ------
        CLIError
            No checkpoint there, or it is unreadable, inconsistent or from another version.
        """
        from bcekit import io
        from bcekit.cli.artifacts import PREPROCESS_FILE
        from bcekit.data.preprocessor import read_preprocessor

        directory = run_dir / CHECKPOINT_DIR
        if not (directory / RUN_FILE).is_file():
            directory = run_dir
        run_file = directory / RUN_FILE
        if not run_file.is_file():
            raise CLIError(
                f"--resume {run_dir}: no {CHECKPOINT_DIR}/{RUN_FILE} there; a run leaves one "
                "only when it is interrupted"
            )
        try:
            document = json.loads(run_file.read_text(encoding="utf-8"))
            preprocessor = read_preprocessor(directory / PREPROCESS_FILE)
            ok = isinstance(document, dict)
        except (OSError, UnicodeDecodeError, ValueError):
            ok = False
        if ok and document.get("format") != RUN_FORMAT:
            raise CLIError(
                f"--resume {run_dir}: the checkpoint is in the format {document.get('format')!r}"
                f", not {RUN_FORMAT!r}; it was written by another bcekit version: start a new run"
            )
        if not (
            ok
            and isinstance(document.get("options"), dict)
            and set(RUN_OPTIONS) <= set(document["options"])
            and isinstance(document.get("data_sha256"), str)
        ):
            raise CLIError(f"--resume {run_dir}: {directory} is corrupt or edited")
        try:
            state = io.load_training_state(directory)
        except (OSError, io.ModelFileError) as exc:
            raise CLIError(f"--resume {run_dir}: the training state is unusable: {exc}") from exc
        epoch = state.get("epoch")
        if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
            raise CLIError(f"--resume {run_dir}: the training state has no epoch count")
        return cls(
            options=document["options"],
            data_sha256=document["data_sha256"],
            preprocessor=preprocessor,
            state=state,
        )

    def resume_options(self, given: dict[str, Any], explicit: set[str]) -> dict[str, Any]:
        """The stored options, with the changes the command line may make.

        Raises
        ------
        CLIError
            An option given on the command line contradicts the interrupted run, or no
            epochs are left to train.
        """
        options = dict(self.options)
        for name in sorted(explicit & set(RUN_OPTIONS)):
            value = jsonable(given[name])
            if name in RESUME_MAY_CHANGE:
                options[name] = value
            elif value != options[name]:
                flag = "--" + {"kind": "model"}.get(name, name).replace("_", "-")
                raise CLIError(
                    f"--resume: {flag} {value!r} differs from the interrupted run's "
                    f"{options[name]!r}; leave it out or start a new run"
                )
        if options["epochs"] <= self.epochs_done:
            raise CLIError(
                f"--resume: the run has already trained {self.epochs_done} epochs; pass "
                f"--epochs with more than that to continue"
            )
        return options


def jsonable(value: Any) -> Any:
    """A click option value as it reads back from JSON (tuples become lists)."""
    return json.loads(json.dumps(value))
