"""``bcekit demo``: train two models on the bundled breast-cancer data and write a report."""

from __future__ import annotations

from pathlib import Path

import click

from bcekit.cli.options import global_options, seed_option

EPILOG = """\b
Examples:
  bcekit demo
  bcekit demo --output /tmp/report --seed 3
  bcekit demo --json
"""

#: Fraction of the rows held out for the test metrics.
TEST_FRACTION = 0.25


def _models(seed: int) -> dict[str, object]:
    import bcekit

    return {
        "logistic": bcekit.LogisticRegression(C=1.0),
        "mlp": bcekit.MLPClassifier(
            hidden_layer_sizes=(32,),
            max_iter=200,
            early_stopping=True,
            validation_fraction=0.2,
            random_state=seed,
        ),
    }


@click.command(short_help="Train two models on bundled data and write a report.", epilog=EPILOG)
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    default=Path("bcekit-report"),
    show_default=True,
    metavar="DIR",
    help="Report folder to write (replaced if it exists).",
)
@seed_option("Seed of split and models.")
@global_options
def demo(output: Path, seed: int) -> None:
    """Train logistic regression and an MLP on the bundled breast-cancer data.

    Splits the 569 tumours into stratified train and test sets, standardises the features,
    fits both models, prints their test metrics, and writes DIR with metrics.json, PNG
    figures, report.html and the two model folders (logistic/, mlp/), which
    'bcekit evaluate' and 'bcekit predict' accept. Needs no network.
    """
    import numpy as np
    from sklearn.model_selection import train_test_split

    from bcekit.cli.artifacts import check_output_dir, publish, save_model_dir
    from bcekit.cli.console import note, print_metrics
    from bcekit.data.bundled import TARGET_COLUMN, breast_cancer_table
    from bcekit.data.tables import TablePreprocessor
    from bcekit.plots.report import ModelEvaluation, write_report

    check_output_dir(output)
    table = breast_cancer_table()
    labels = table.column(TARGET_COLUMN).to_numpy(zero_copy_only=False)
    train_rows, test_rows = train_test_split(
        np.arange(table.num_rows), test_size=TEST_FRACTION, stratify=labels, random_state=seed
    )
    train, test = table.take(np.sort(train_rows)), table.take(np.sort(test_rows))
    source = "breast-cancer"
    pre = TablePreprocessor.fit(train, TARGET_COLUMN, source=source)
    X_train, y_train = pre.transform(train, source=source), pre.encode_target(train, source=source)
    X_test, y_test = pre.transform(test, source=source), pre.encode_target(test, source=source)

    evaluations = []
    models = _models(seed)
    for name, model in models.items():
        note(f"training {name} on {len(y_train)} tumours ...")
        model.fit(X_train, y_train)
        evaluations.append(
            ModelEvaluation(name, y_test, model.predict_proba(X_test)[:, 1], estimator=model)
        )
    details = {
        "data": "breast cancer (Wisconsin diagnostic, bundled with scikit-learn)",
        "positive class": pre.classes[1],
        "train rows": len(y_train),
        "test rows": len(y_test),
        "features": len(pre.feature_names),
        "seed": seed,
    }
    with publish(output) as tmp:
        for name, model in models.items():
            save_model_dir(tmp / name, model, pre)
        metrics = write_report(
            tmp,
            evaluations,
            title="bcekit demo: breast cancer",
            details=details,
            positive=str(pre.classes[1]),
        )
    print_metrics(metrics, title=f"Test set ({len(y_test)} tumours, positive = {pre.classes[1]})")
    note(f"report written to {output / 'report.html'}")
