"""`flask phi scan` and `flask phi eval` through the app's CLI runner (no database needed)."""

from __future__ import annotations

import json
from pathlib import Path

from flask import Flask

from forum import create_app
from tests.conftest import base_config


def _app(tmp_path: Path) -> Flask:
    return create_app(base_config(tmp_path, f"sqlite:///{tmp_path / 'phi.sqlite3'}", 2525))


def test_scan_prints_one_json_line_per_finding(tmp_path: Path) -> None:
    post = tmp_path / "post.txt"
    post.write_text("Mrs. Krish, 94, call 415-555-0132. BP 140/90.", encoding="utf-8")
    result = _app(tmp_path).test_cli_runner().invoke(args=["phi", "scan", str(post)])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.output.splitlines()]
    assert [row["kind"] for row in rows] == ["NAME", "AGE_OVER_89", "PHONE"]
    assert rows[2]["text"] == "415-555-0132"
    assert {"start", "end", "action", "reason", "suggestion"} <= set(rows[0])


def test_scan_reads_standard_input_and_can_leave_the_text_out(tmp_path: Path) -> None:
    runner = _app(tmp_path).test_cli_runner()
    result = runner.invoke(args=["phi", "scan", "--no-text", "-"], input="SSN 123-45-6789\n")
    assert result.exit_code == 0, result.output
    row = json.loads(result.output)
    assert row["kind"] == "SSN"
    assert "text" not in row


def test_scan_of_clean_text_prints_nothing(tmp_path: Path) -> None:
    runner = _app(tmp_path).test_cli_runner()
    result = runner.invoke(args=["phi", "scan", "-"], input="Wells 1.5, D-dimer 6.2.\n")
    assert result.exit_code == 0
    assert result.output == ""


def test_eval_prints_recall_pass_rate_and_speed(tmp_path: Path) -> None:
    labelled = tmp_path / "set.jsonl"
    rows = [
        {
            "id": "a",
            "text": "Call 415-555-0132.",
            "phi": [{"start": 5, "end": 17, "kind": "PHONE"}],
        },
        {"id": "b", "text": "BP 140/90 on amlodipine.", "phi": [], "has_phi": False},
    ]
    labelled.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    runner = _app(tmp_path).test_cli_runner()
    result = runner.invoke(args=["phi", "eval", str(labelled), "--show-misses"])
    assert result.exit_code == 0, result.output
    assert "post recall (block or review): 1.000" in result.output
    assert "clean pass rate (no finding):  1.000" in result.output
    assert "PHONE        1.000  same kind 1.000" in result.output
    assert "MB/s" in result.output
    assert "ms per post" in result.output
