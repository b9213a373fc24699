"""The batch grader's trusted per-submission process: its exit status is read right however many
threads start and wait for such processes, and when it dies without a word (a signal, an empty
log), the submission is graded once more in a new process, and the report says so."""

import os
import signal
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import psutil
from toy_assignment import grade, make_toy, submission

from autograder.batch.processes import exit_description, run_child

SLOW_ADD = "    import time\n    time.sleep(1.5)\n    return a + b"


class GradingProcessKiller(threading.Thread):
    """SIGKILLs the first ``times`` grading processes (cwd in an ``autograde-child-`` folder) it sees."""

    def __init__(self, times: int):
        super().__init__(daemon=True)
        self.times, self.stop = times, threading.Event()
        self.killed: list[int] = []
        self.prefix = os.path.join(os.path.realpath(tempfile.gettempdir()), "autograde-child-")

    def run(self):
        while not self.stop.is_set() and len(self.killed) < self.times:
            for proc in psutil.Process().children(recursive=True):
                try:
                    if proc.pid not in self.killed and proc.cwd().startswith(self.prefix):
                        proc.send_signal(signal.SIGKILL)
                        self.killed.append(proc.pid)
                        break
                except psutil.Error:
                    continue
            time.sleep(0.02)


def graded_while_killing(tmp_path, times: int) -> dict:
    toy = make_toy(tmp_path)
    killer = GradingProcessKiller(times)
    killer.start()
    try:
        _, results, out = grade(toy, tmp_path, {"ann": submission(toy, add_body=SLOW_ADD)}, workers=1)
    finally:
        killer.stop.set()
        killer.join()
    assert len(killer.killed) == times, "the test did not find the grading process to kill"
    return results["ann"] | {"report": (out / "report.txt").read_text()}


def test_exit_codes_are_right_when_two_threads_start_and_reap_processes():
    """With multiprocessing's own join(), about 1 process in 100 here came back with exit code 255
    although it exited 0 (CPython gh-130895: start() in one thread reads another's exit status)."""
    with ThreadPoolExecutor(2) as pool:
        codes = list(pool.map(lambda _: run_child(os.getpid, (), 30.0), range(600)))
    assert codes == [0] * 600, {code: codes.count(code) for code in set(codes)}


def test_run_child_reports_a_signal_and_stops_a_process_past_its_time():
    assert run_child(os.abort, (), 30.0) == -signal.SIGABRT
    start = time.perf_counter()
    assert run_child(time.sleep, (60,), 0.5) is None
    assert time.perf_counter() - start < 30


def test_exit_description_names_the_signal():
    assert exit_description(-signal.SIGSEGV) == "killed by SIGSEGV"
    assert exit_description(1) == "exit status 1"


def test_a_grading_process_killed_once_is_replaced_and_the_report_says_so(tmp_path):
    result = graded_while_killing(tmp_path, times=1)
    assert result["status"] == "graded" and result["score"] == 5, result
    assert any("killed by SIGKILL" in n and "graded again" in n for n in result["notes"]), result["notes"]
    assert "graded again" in result["report"]


def test_a_grading_process_killed_twice_leaves_the_submission_ungradable(tmp_path):
    result = graded_while_killing(tmp_path, times=2)
    assert result["status"] == "ungradable" and result["score"] == 0, result
    (note,) = result["notes"]
    assert "killed by SIGKILL" in note and "second try failed too" in note, note
