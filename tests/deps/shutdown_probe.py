"""Does temporalio still crash at interpreter shutdown (sdk-python#300)?

Run ``python tests/deps/shutdown_probe.py [RUNS]``: it starts one dev server, then
``RUNS`` times (default 20) for each mode a fresh interpreter that connects a client,
runs a worker, completes one workflow and then ends *normally* (no ``os._exit``):

- ``clean``: the worker is shut down and ``asyncio.run`` returns before exit;
- ``live``: the client and a running worker are left on a background event loop
  thread when the interpreter exits, as a script using the SDK's engine does.

It prints the exit status of every run and a summary; the README's "Exiting"
section records the evidence. Not collected by pytest (it takes minutes).
"""

from __future__ import annotations

import asyncio
import collections
import platform
import subprocess
import sys
import threading
import uuid
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker


@activity.defn
async def greet(name: str) -> str:
    return f"hello {name}"


@workflow.defn
class Greet:
    @workflow.run
    async def run(self, name: str) -> str:
        return await workflow.execute_activity(
            greet, name, start_to_close_timeout=timedelta(seconds=30))


async def _one_workflow(address: str, keep_running: bool) -> None:
    client = await Client.connect(address)
    queue = f"probe-{uuid.uuid4().hex[:8]}"
    worker = Worker(client, task_queue=queue, workflows=[Greet], activities=[greet],
                    workflow_runner=UnsandboxedWorkflowRunner())
    if keep_running:
        asyncio.get_running_loop().create_task(worker.run())
        result = await client.execute_workflow(Greet.run, "x", id=queue, task_queue=queue)
    else:
        async with worker:
            result = await client.execute_workflow(Greet.run, "x", id=queue, task_queue=queue)
    assert result == "hello x", result


def child(mode: str, address: str) -> None:
    if mode == "clean":
        asyncio.run(_one_workflow(address, keep_running=False))
        return
    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, daemon=True).start()
    asyncio.run_coroutine_threadsafe(_one_workflow(address, keep_running=True), loop).result(60)
    # Return with the loop, client and worker alive: the interpreter tears them down.


def main(runs: int) -> None:
    import temporalio

    from durable_automation.devserver import DevServer

    codes: dict[str, collections.Counter[int]] = {}
    with DevServer(ui=False) as server:
        for mode in ("clean", "live"):
            codes[mode] = collections.Counter()
            for i in range(runs):
                last = ""
                try:
                    done = subprocess.run(
                        [sys.executable, __file__, "--child", mode, server.address],
                        check=False, timeout=120, capture_output=True, text=True)
                    code = done.returncode
                    fatal = [line for line in done.stderr.splitlines() if "Fatal" in line]
                    last = fatal[0] if code and fatal else ""
                except subprocess.TimeoutExpired:
                    code = 999  # hung at exit
                codes[mode][code] += 1
                print(f"{mode} run {i + 1}: exit status {code} {last}".rstrip(), flush=True)
    print(f"temporalio {temporalio.__version__}, Python {platform.python_version()}, "
          f"{platform.platform()}")
    for mode, counter in codes.items():
        bad = sum(n for code, n in counter.items() if code != 0)
        print(f"{mode}: {runs} runs, {bad} non-zero or signal exits {dict(counter)}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(sys.argv[2], sys.argv[3])
    else:
        main(int(sys.argv[1]) if len(sys.argv) > 1 else 20)
