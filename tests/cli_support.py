"""What the in-process CLI tests share: invoking ``bcekit`` and checking a refusal."""

from __future__ import annotations

from click.testing import CliRunner

from bcekit.cli.app import cli


def invoke(*args: object):
    """Run ``bcekit ARGS...`` in process and return click's result."""
    return CliRunner().invoke(cli, [str(a) for a in args], prog_name="bcekit")


def assert_bad_input(result, fragment: str) -> None:
    """Exit 2, one ``error:`` line on stderr holding ``fragment``, no traceback."""
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert fragment in lines[0]
    assert "Traceback" not in result.stderr
