"""Executes one notebook with nbclient and keeps every output, for lib/report/runner.ts.

Deno's Jupyter kernel sometimes publishes `status: idle` on IOPub before a cell's last outputs, and plain
nbclient (so `jupyter nbconvert --execute`) stops listening at idle and drops them. GraceClient keeps
reading IOPub after idle until the channel has been quiet for --grace-ms and files late messages under the
cell that sent them.

Usage: /usr/bin/python3 _execute.py IN.ipynb OUT.ipynb --cwd DIR --kernel NAME [--timeout S] [--grace-ms MS]
       [--startup-timeout S] [--plain]

Events go to stdout as JSON lines: {"event":"start","cells":N}, {"event":"cell","index":I,"number":K,
"total":N,"seconds":S,"late":L}, then {"event":"done","ok":true} or {"event":"done","ok":false,"cell":I,
"number":K,"ename":...,"evalue":...}. OUT.ipynb is written in every case, with the outputs so far.
Exit code 0 on success, 1 if a cell failed or timed out, 2 on bad arguments.
"""

import argparse
import asyncio
import json
import sys
import time
from queue import Empty

import nbformat
from nbclient import NotebookClient
from nbclient.util import ensure_async
from nbclient.exceptions import CellExecutionComplete, CellExecutionError, CellTimeoutError, DeadKernelError


def emit(**event):
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


class GraceClient(NotebookClient):
    """A NotebookClient that keeps reading IOPub for a quiet period after the kernel reports idle."""

    grace_s = 0.5
    max_grace_s = 3.0  # below nbclient's iopub_timeout (4 s), which bounds this task
    late_messages = 0

    async def _async_poll_output_msg(self, parent_msg_id, cell, cell_index):
        await super()._async_poll_output_msg(parent_msg_id, cell, cell_index)
        if self.grace_s <= 0:
            return
        deadline = time.monotonic() + self.max_grace_s
        while time.monotonic() < deadline:
            try:
                timeout = min(self.grace_s, max(0.0, deadline - time.monotonic()))
                msg = await ensure_async(self.kc.iopub_channel.get_msg(timeout=timeout))
            except (Empty, asyncio.TimeoutError):
                return
            if msg["parent_header"].get("msg_id") != parent_msg_id:
                continue
            if msg["msg_type"] not in ("status", "execute_input"):
                self.late_messages += 1
            try:
                self.process_message(msg, cell, cell_index)
            except CellExecutionComplete:
                pass  # a second idle for the same request: keep draining


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("input")
    parser.add_argument("output")
    parser.add_argument("--cwd", required=True)
    parser.add_argument("--kernel", required=True)
    parser.add_argument("--timeout", type=int, default=None, help="seconds per cell; none by default")
    parser.add_argument("--startup-timeout", type=int, default=120)
    parser.add_argument("--grace-ms", type=int, default=500)
    parser.add_argument("--plain", action="store_true", help="no grace period (plain nbclient), for comparison")
    args = parser.parse_args()

    nb = nbformat.read(args.input, as_version=4)
    code_cells = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and c.source.strip()]
    number = {index: n + 1 for n, index in enumerate(code_cells)}
    started = {}

    client = GraceClient(
        nb,
        kernel_name=args.kernel,
        timeout=args.timeout,
        startup_timeout=args.startup_timeout,
        resources={"metadata": {"path": args.cwd}},
        allow_errors=False,
        record_timing=True,
    )
    client.grace_s = 0 if args.plain else args.grace_ms / 1000.0

    def on_cell_execute(cell, cell_index):
        started[cell_index] = time.monotonic()
        client.late_messages = 0

    def on_cell_executed(cell, cell_index, execute_reply):
        emit(
            event="cell",
            index=cell_index,
            number=number[cell_index],
            total=len(code_cells),
            seconds=round(time.monotonic() - started[cell_index], 3),
            late=client.late_messages,
        )

    client.on_cell_execute = on_cell_execute
    client.on_cell_executed = on_cell_executed

    emit(event="start", cells=len(code_cells))
    failure = None
    try:
        client.execute()
    except CellExecutionError as e:
        failure = dict(ename=e.ename, evalue=e.evalue)
    except CellTimeoutError as e:
        failure = dict(ename="CellTimeoutError", evalue=str(e).strip().split("\n")[0])
    except DeadKernelError as e:
        failure = dict(ename="DeadKernelError", evalue=str(e).strip().split("\n")[0])
    finally:
        nbformat.write(nb, args.output)
    if failure is None:
        emit(event="done", ok=True)
        return 0
    # The failing cell is the last one that started.
    index = max(started, key=started.get) if started else None
    emit(event="done", ok=False, cell=index, number=number.get(index), **failure)
    return 1


if __name__ == "__main__":
    sys.exit(main())
