"""The ``simulate`` command's options for the later knobs."""

from __future__ import annotations

import pytest

from seedance_async.cli import main


@pytest.mark.parametrize(
    "args",
    [
        ["--cdn-faults", "truncated=2"],
        ["--cdn-faults", "truncate_mode=sideways"],
        ["--cdn-faults", "nope=1"],
        ["--faults", "account_quota=7"],
    ],
)
def test_bad_fault_specs_exit_2(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """Bad CDN fault specs are refused like bad API fault specs."""
    assert main(["simulate", "--provider", "ark", *args, "--exit-after-ready"]) == 2
    assert "simulate" in capsys.readouterr().err


def test_new_options_start(capsys: pytest.CaptureFixture[str]) -> None:
    """CDN faults, the unified envelope and the new request faults are accepted."""
    code = main(
        [
            "simulate",
            "--provider",
            "unified",
            "--cdn-faults",
            "unavailable=0.1,truncated=0.1,truncate_mode=unframed",
            "--unified-shape",
            "new_api",
            "--faults",
            "unknown_status=0.1,account_quota=0.01",
            "--exit-after-ready",
        ]
    )
    assert code == 0
    assert "unified" in capsys.readouterr().out
