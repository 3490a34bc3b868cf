"""The command line finds shipped models by name and stays light for simple commands."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest

from composer_app import paths
from composer_app.cli import main

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(not (paths.model_dir() / "config.json").is_file(),
                    reason="the shipped model is not built")
def test_cli_evaluate_finds_a_shipped_model_by_name(tmp_path: Path, capsys) -> None:
    # one 16-step C-major tune: C E G held, then F A C
    tune = [[60, 64, 67]] * 8 + [[65, 69, 72]] * 8
    data = tmp_path / "tiny.json.gz"
    data.write_bytes(gzip.compress(json.dumps({"train": [], "valid": [], "test": [tune]}).encode()))
    status = main(["evaluate", paths.DEFAULT_MODEL_NAME, "--data", str(data), "--split", "test",
                   "--no-ll", "--acc-samples", "2"])
    out = capsys.readouterr().out
    assert status == 0
    assert "16 frames" in out and "ACC" in out


def test_cli_help_and_info_do_not_import_torch(tmp_path: Path) -> None:
    code = ("import sys\nfrom composer_app.cli import build_parser\n"
            "build_parser('info')\nprint('torch' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
