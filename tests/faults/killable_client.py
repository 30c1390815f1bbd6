"""An editor that will be killed: starts the real server, starts a streamed explanation, says so, and waits.

    python -m tests.faults.killable_client WORKSPACE CACHE

Prints ``server PID`` once the server is ready and ``streaming`` at the first explanation chunk; the test then
kills this process with SIGKILL, as a crashing editor dies, and watches what the server does.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

from lsprotocol import types
from tests.faults.common import SOURCE
from tests.lsp.harness import open_doc, running_server, send_raw_request


async def main(workspace: Path, cache: Path) -> None:
    async with running_server(workspace, cache) as client:
        said: list[bool] = []

        @client.feature("codehearth/explainChunk")
        def on_chunk(params: Any) -> None:
            if not said:
                said.append(True)
                sys.stdout.write("streaming\n")
                sys.stdout.flush()

        sys.stdout.write(f"server {client._server.pid}\n")  # type: ignore[attr-defined]
        sys.stdout.flush()
        uri = (workspace / "circles.py").as_uri()
        open_doc(client, uri, SOURCE)
        send_raw_request(client, "workspace/executeCommand", types.ExecuteCommandParams(
            command="codehearth.explain", arguments=[uri, {"line": 6, "character": 8}, {"id": "doomed"}]))
        await asyncio.sleep(3600)


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), Path(sys.argv[2])))
