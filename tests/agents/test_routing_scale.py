"""The agent routing benchmark at test scale: routing an event to its agent costs the
same with 1,000 live agents as with 100 (``benchmarks/agent_routing.py``, which runs
10,000 by hand). Its own dev server and worker process."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "agent_routing.py"


def _measure() -> tuple[subprocess.CompletedProcess[str], float]:
    began = time.monotonic()
    done = subprocess.run(
        [sys.executable, str(BENCHMARK), "--small", "100", "--large", "1000", "--events", "60",
         "--judge", "hook"],
        capture_output=True, text=True, timeout=180, check=False,
    )
    return done, time.monotonic() - began


def test_routing_cost_does_not_grow_with_live_agents() -> None:
    done, elapsed = _measure()
    if done.returncode != 0 and "FAIL" in done.stdout:
        # One re-measurement on a miss: on a shared 2-core machine another process can
        # double one phase's median (seen in CI: hook 7.4 ms with 100 agents, 12.1 ms
        # with 1,000, while the other pytest process ran). A real regression misses twice.
        first = done.stdout
        done, elapsed = _measure()
        print("first measurement missed the aim:\n" + first)
    # The benchmark prints the ratios beside their aim (< 1.5) and exits 1 when the
    # routing hook's misses it (a full emit's ratio is printed, not judged, at this scale).
    assert done.returncode == 0, done.stdout + done.stderr
    assert "PASS" in done.stdout, done.stdout
    # Spawning the 1,000 agents is most of it. On this 2-core machine, shared with
    # other test runs: 39 s at load average 3, 87 s at load average 10.
    assert elapsed < 150, f"took {elapsed:.0f}s: {done.stdout}"
