"""The README's Python examples run as written, and the numbers in their comments hold."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
# A number right after "#" (optionally after words such as "mean IoU") is the expected value.
COMMENTED_NUMBER = re.compile(r"#\s*(?:[A-Za-z][A-Za-z ]*\s)?(\d+\.\d+)")


def test_the_readme_has_python_examples():
    assert len(BLOCKS) >= 4


@pytest.mark.slow
@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_example_runs(index, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # examples that write files write them here
    source = BLOCKS[index]
    if "load_shuttle" in source:
        pytest.importorskip("river", reason="load_shuttle reads the file river ships")
    if "onnxruntime" in source:
        pytest.importorskip("onnxruntime", reason="the example needs the onnx extra")
    if "import torch" in source:
        pytest.importorskip("torch", reason="the example needs torch (the bench extra)")
    lines = source.splitlines()
    namespace: dict = {}
    checked = 0
    for statement in ast.parse(source).body:
        code = ast.Module(body=[statement], type_ignores=[])
        if not isinstance(statement, ast.Expr):
            exec(compile(code, "README.md", "exec"), namespace)
            continue
        value = eval(compile(ast.Expression(statement.value), "README.md", "eval"), namespace)
        expected = COMMENTED_NUMBER.search(lines[statement.end_lineno - 1])
        if expected and isinstance(value, float):
            assert value == pytest.approx(float(expected.group(1)), abs=0.01), lines[
                statement.end_lineno - 1
            ]
            checked += 1
    if "# 0." in source:
        assert checked, "a commented value was not checked"
