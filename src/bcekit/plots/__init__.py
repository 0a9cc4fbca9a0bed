"""Figures for trained models: loss curves, and reports with ROC, PR and calibration plots.

Matplotlib is imported only when something is drawn.
"""

from bcekit.plots.curves import LossCurveDisplay

__all__ = ["LossCurveDisplay"]
