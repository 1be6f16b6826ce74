"""The shared progress display's rate column."""

from __future__ import annotations

from types import SimpleNamespace

from emergent.progress import RateColumn


def test_rate_is_per_second_or_seconds_per_item_when_slow():
    column = RateColumn()
    assert column.render(SimpleNamespace(finished_speed=None, speed=3_456.2)).plain == "3,456/s"
    assert column.render(SimpleNamespace(finished_speed=None, speed=0.17)).plain == "5.9s/it"  # a CPU training step
    assert column.render(SimpleNamespace(finished_speed=0.5, speed=None)).plain == "2.0s/it"
    assert column.render(SimpleNamespace(finished_speed=None, speed=None)).plain == ""


def test_plain_lines_report_at_start_every_interval_and_at_the_end():
    from emergent.progress import PlainLines

    now = [0.0]
    lines: list[str] = []
    progress = PlainLines(30, lines.append, clock=lambda: now[0])
    task = progress.add_task("phase1", total=10)
    for _ in range(9):
        now[0] += 10
        progress.update(task, advance=1, description="phase1 loss 2.5000")
    assert len(lines) == 1 + 3  # the start, then once per 30 s
    assert "phase1 loss 2.5000 | 3/10 | elapsed 0:30 | 10.0s/it | ETA 1:10" in lines[1]
    now[0] += 10
    progress.advance(task)
    assert lines[-1].endswith("10/10 | elapsed 1:40 | 10.0s/it | done")
    stream = progress.add_task("ingest", total=None)
    progress.advance(stream, 500)
    progress.close()
    assert lines[-1].split("] ", 1)[1] == "ingest | 500 | elapsed 0:00 | done"


def test_a_command_writing_to_a_log_file_shows_progress_while_it_runs(tmp_path):
    """What a user tailing a Slurm or nohup log sees: a line per interval, not bars at the end."""
    import os
    import subprocess
    import sys
    import time

    script = (
        "import time\n"
        "from emergent.progress import counter_progress\n"
        "with counter_progress() as p:\n"
        "    t = p.add_task('train step', total=40)\n"
        "    for _ in range(40):\n"
        "        time.sleep(0.05)\n"
        "        p.advance(t)\n"
    )
    log = tmp_path / "run.log"
    env = {**os.environ, "EMERGENT_PROGRESS_SECONDS": "0.5"}
    with log.open("w") as f:
        proc = subprocess.Popen([sys.executable, "-c", script], stdout=f, stderr=subprocess.STDOUT, env=env)
        seen_while_running = ""
        while proc.poll() is None:
            seen_while_running = log.read_text()
            if "/40" in seen_while_running and "done" not in seen_while_running:
                break
            time.sleep(0.05)
        proc.wait(timeout=60)
    assert "train step | 0/40" in seen_while_running  # flushed at once, while the command still runs
    text = log.read_text()
    assert "\x1b[" not in text  # no terminal control codes in a log
    last = text.strip().splitlines()[-1]
    assert "] train step | 40/40 | elapsed 0:0" in last and last.endswith("/s | done"), last
