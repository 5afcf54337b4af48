"""Pool workers die with their driver, even when it dies while they are still starting."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

from statebench.bench.store.claim_files import pid_alive

DRIVER = textwrap.dedent(
    """
    import multiprocessing, os, sys, time
    from concurrent.futures import ProcessPoolExecutor
    from statebench.bench.run.executors.worker import init_pool_worker

    if __name__ == "__main__":
        pool = ProcessPoolExecutor(
            max_workers=2,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=init_pool_worker,
            initargs=(1, None, os.getpid()),
        )
        for _ in range(4):
            pool.submit(time.sleep, 120)
        print(" ".join(map(str, pool._processes)), flush=True)  # still importing: start-up
        time.sleep(120)
    """
)


def _gone_within(pids: list[int], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not any(pid_alive(p) for p in pids):
            return True
        time.sleep(0.1)
    return False


def test_workers_die_when_the_driver_is_killed_during_their_start_up(tmp_path):
    script = tmp_path / "driver.py"
    script.write_text(DRIVER)
    driver = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    workers = [int(p) for p in driver.stdout.readline().split()]
    assert len(workers) == 2
    os.kill(driver.pid, signal.SIGKILL)
    driver.wait()
    try:
        assert _gone_within(workers, 60), "orphaned workers outlived their driver"
    finally:
        for pid in workers:
            if pid_alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_a_worker_whose_driver_is_already_gone_exits_at_once():
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    code = (
        "import time; from statebench.bench.run.executors.worker import init_pool_worker; "
        f"init_pool_worker(1, None, {dead.pid}); time.sleep(60)"
    )
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", code], timeout=60)
    assert proc.returncode == 1 and time.monotonic() - start < 30
