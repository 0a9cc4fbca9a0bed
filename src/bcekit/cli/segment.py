"""``bcekit segment``: train a SegmentationNet and write overlays and metrics."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from bcekit.cli.errors import CLIError
from bcekit.cli.options import global_options, output_option, seed_option

EPILOG = """\b
Examples:
  bcekit segment --output shapes-run              # generated shapes, 400 train / 100 test
  bcekit segment --data nuclei --output nuclei-run
      (needs: pip install tifffile; pip install --no-deps stardist)
  bcekit segment --data my_images/ --output run1  # images/*.png and masks/*.png inside
"""


@click.command(short_help="Train a segmentation net and write overlays.", epilog=EPILOG)
@click.option(
    "--data",
    default="shapes",
    show_default=True,
    metavar="shapes|nuclei|DIR",
    help="Generated shapes, the nuclei tiles, or a folder with images/ and masks/.",
)
@output_option("Output folder; created when the run ends.")
@click.option("--epochs", type=click.IntRange(1), default=20, show_default=True)
@click.option("--depth", type=click.IntRange(1, 5), default=2, show_default=True)
@click.option("--width", type=click.IntRange(1), default=8, show_default=True, help="Base width.")
@click.option(
    "--loss", type=click.Choice(["bce", "bce+dice"]), default="bce+dice", show_default=True
)
@click.option(
    "--batch-norm/--no-batch-norm",
    default=True,
    show_default=True,
    help="Batch normalisation after each 3×3 convolution.",
)
@click.option("--n-train", type=click.IntRange(1), default=400, show_default=True)
@click.option("--n-test", type=click.IntRange(1), default=100, show_default=True)
@seed_option("Seed of the data, split and model.")
@global_options
def segment(data: str, output: Path, **options: Any) -> None:
    """Train a SegmentationNet (a small U-Net, per-pixel BCE + Dice) and evaluate it.

    The held-out images are scored by mean IoU and Dice; OUTPUT receives metrics.json,
    overlays.png (image / truth / prediction) and the model files (model.safetensors,
    model.json); 'bcekit predict OUTPUT IMAGES -o MASKS' applies the model to new images.

    With a folder, the masks share the images' file names and hold 0/255 (255 =
    foreground), 0/1 with 255 for pixels to ignore, or instance labels (> 0 = foreground).
    Images are scaled by their pixel type (8-bit by 255, 16-bit by 65535).
    """
    from bcekit import io
    from bcekit.cli.artifacts import check_output_dir, publish
    from bcekit.cli.console import mask_summary, note, print_result
    from bcekit.cli.options import settings
    from bcekit.estimators.segmentation import SegmentationNet
    from bcekit.plots.masks import segment_report

    check_output_dir(output)
    train, test = _load(data, options)
    model = SegmentationNet(
        depth=options["depth"],
        base_width=options["width"],
        max_iter=options["epochs"],
        loss=options["loss"],
        batch_norm=options["batch_norm"],
        learning_rate=0.01,
        random_state=options["seed"],
        verbose=0 if settings().quiet else 1,
    )
    note(f"training on {len(train[0])} images of {train[0].shape[1]}×{train[0].shape[2]} ...")
    try:
        model.fit(*train)
    except ValueError as exc:
        raise CLIError(f"{data}: {exc}") from exc
    with publish(output) as tmp:
        metrics = segment_report(model, *test, tmp)["metrics"]
        io.save(model, tmp)
    print_result(metrics, f"held-out {mask_summary(metrics)}")
    note(f"wrote {output}/")


def _load(data: str, options: dict[str, Any]) -> tuple[tuple[Any, Any], tuple[Any, Any]]:
    """``((train_images, train_masks), (test_images, test_masks))`` for ``--data``."""
    if data == "shapes":
        from bcekit.datasets import make_shapes

        n_train, n_test = options["n_train"], options["n_test"]
        images, masks = make_shapes(n_train + n_test, random_state=options["seed"])
        return (images[:n_train], masks[:n_train]), (images[n_train:], masks[n_train:])
    if data == "nuclei":
        from bcekit.datasets import load_nuclei

        try:
            tiles = load_nuclei(stride=32)  # overlapping training tiles
        except ImportError as exc:
            raise CLIError(str(exc)) from exc
        return (tiles.train_images, tiles.train_masks), (tiles.val_images, tiles.val_masks)
    return _load_folder(Path(data), options)


def _load_folder(folder: Path, options: dict[str, Any]) -> tuple[tuple[Any, Any], tuple[Any, Any]]:
    """Images and masks from ``folder/images`` and ``folder/masks``, split for testing."""
    from sklearn.model_selection import train_test_split

    from bcekit.data.image_files import read_segmentation_folder

    if not folder.is_dir():
        raise CLIError(f"--data {folder}: not 'shapes', 'nuclei' or an existing folder")
    try:
        X, Y = read_segmentation_folder(folder)
    except ValueError as exc:
        raise CLIError(str(exc)) from exc
    if len(X) < 2:
        raise CLIError(f"{folder / 'images'}: needs at least two images to train and test")
    Xtr, Xte, Ytr, Yte = train_test_split(X, Y, test_size=0.2, random_state=options["seed"])
    return (Xtr, Ytr), (Xte, Yte)
