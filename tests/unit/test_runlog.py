"""What ``make run`` prints (casework.runlog): compact lines, exits, log tails, repeats, reports."""

from __future__ import annotations

import json
from pathlib import Path

from casework.restarts import GiveUp, Restart, RestartPolicy
from casework.runlog import Repeats, compact, describe_exit, gave_up_lines, restart_line, tail


def entry(**fields: object) -> str:
    return json.dumps({"timestamp": "2026-01-01T00:00:00Z", "logger": "casework.intake", **fields}) + "\n"


def test_a_log_entry_becomes_its_event_and_details() -> None:
    line = entry(event="case opened", level="info", case_id="CASE-1", correlation_id="c-1", topic="cases.opened")
    assert compact(line) == "case opened [dim]case_id=CASE-1[/]"


def test_warnings_and_errors_are_coloured() -> None:
    assert compact(entry(event="slow", level="warning")) == "[yellow]slow[/]"
    assert compact(entry(event="broken", level="error")) == "[red]broken[/]"


def test_debug_and_library_chatter_are_left_out() -> None:
    assert compact(entry(event="anything", level="debug")) == ""
    assert compact(entry(event="Received message", level="info")) == ""


def test_the_hidden_loggers_are_left_out_with_their_children() -> None:
    line = entry(event="Unable connect to node", level="error", logger="aiokafka.conn")
    assert compact(line, hide=("aiokafka",)) == ""
    assert compact(line) == "[red]Unable connect to node[/]"
    assert compact(entry(event="kept", level="error", logger="aiokafkaesque"), hide=("aiokafka",)) == "[red]kept[/]"


def test_plain_text_is_kept_as_it_is() -> None:
    assert compact("Traceback (most recent call last):\n") == "Traceback (most recent call last):"
    assert compact("42\n") == "42"


def test_exits_are_described_by_code_or_signal() -> None:
    assert describe_exit(1) == "exit code 1"
    assert describe_exit(0) == "exit code 0"
    assert describe_exit(-9) == "killed by SIGKILL"
    assert describe_exit(-15) == "killed by SIGTERM"
    assert describe_exit(-200) == "killed by signal 200"
    assert describe_exit(None) == "exit status unknown"


def test_the_tail_of_a_log(tmp_path: Path) -> None:
    log = tmp_path / "x.log"
    log.write_text("".join(f"line {n}\n" for n in range(1, 101)))
    assert tail(log, 3) == ["line 98", "line 99", "line 100"]
    assert tail(tmp_path / "missing.log") == []


def test_the_tail_of_a_large_log_reads_only_its_end_and_drops_the_cut_line(tmp_path: Path) -> None:
    log = tmp_path / "big.log"
    log.write_text("x" * 5000 + "\n" + "".join(f"line {n}\n" for n in range(10)))
    assert tail(log, 50, max_bytes=100) == [f"line {n}" for n in range(10)]


def test_a_repeated_line_shows_once_per_period_and_process() -> None:
    repeats = Repeats(seconds=10)
    assert repeats.fresh("intake", "broker down", 0)
    assert not repeats.fresh("intake", "broker down", 5)
    assert repeats.fresh("referral", "broker down", 5)
    assert repeats.fresh("intake", "something else", 5)
    assert repeats.fresh("intake", "broker down", 10)


def test_repeats_forget_old_lines_beyond_their_memory() -> None:
    repeats = Repeats(seconds=1, remember=10)
    for n in range(50):
        assert repeats.fresh("p", f"line {n}", n)
    assert len(repeats._shown) <= 10


def test_the_restart_line_says_what_died_how_and_when_it_starts_again() -> None:
    line = restart_line("intake", "killed by SIGKILL", Restart(delay=2, crashes=2), RestartPolicy())
    assert line.startswith("[red]✗ intake died (killed by SIGKILL)[/]; restarting it in 2 s")
    assert "crash 2, left stopped at 5 within 3 min" in line


def test_the_report_on_giving_up_carries_the_log_tail_escaped() -> None:
    lines = gave_up_lines("certification", "exit code 1", GiveUp(crashes=5, window=180),
                          ".local/logs/certification.log", ["[bold]not markup[/]", "RuntimeError: broken"])
    assert "certification died again (exit code 1): 5 crashes within 3 min, so it is left stopped" in lines[0]
    assert "the rest keep running" in lines[0]
    assert lines[1] == "  The last lines of .local/logs/certification.log:"
    assert lines[2] == "  [dim]│[/] \\[bold]not markup\\[/]"
    assert lines[3] == "  [dim]│[/] RuntimeError: broken"
    assert "make run" in lines[-1]


def test_the_report_says_when_the_log_is_empty() -> None:
    lines = gave_up_lines("kafka", "exit code 1", GiveUp(crashes=5, window=180), ".local/logs/kafka.log", [])
    assert lines[1] == "  .local/logs/kafka.log is empty."
