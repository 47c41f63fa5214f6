"""Physical-limit reference: about the most one Python process can deliver.

Copied from the shared yardstick (`shared/bench/raw_limit.py`, by the
benchmark's authors); only the layout changed (ruff), not the behaviour. A bare
asyncio (uvloop) HTTP/1.1 server that, on `POST /start?steps=N&interval=S`,
encodes each progress event once and writes the same bytes to every open
stream. No framework, no ASGI: any GET is a stream. `python raw_limit.py PORT`.
"""

import asyncio
import json
import sys
import time

try:
    import uvloop

    uvloop.install()
except ImportError:
    pass
STREAMS: set[asyncio.StreamWriter] = set()
HDR = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n"
    b"transfer-encoding: chunked\r\n\r\n"
)


def chunk(b: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(b), b)


async def job(steps, interval):
    for i in range(1, steps + 1):
        await asyncio.sleep(interval)
        data = {
            "percentage": round(100 * i / steps, 2),
            "message": f"item {i}/{steps}",
            "ts": time.time(),
        }
        ev = chunk(b"id: %d\nevent: progress\ndata: %s\n\n" % (i, json.dumps(data).encode()))
        for w in list(STREAMS):
            w.write(ev)
    fin = json.dumps({"success": True, "ts": time.time()}).encode()
    fin = chunk(b"event: complete\ndata: %s\n\n" % fin) + b"0\r\n\r\n"
    for w in list(STREAMS):
        w.write(fin)
        w.close()
    STREAMS.clear()


async def handle(r, w):
    line = await r.readline()
    while (await r.readline()) not in (b"\r\n", b""):
        pass
    if line.startswith(b"POST"):
        q = line.split()[1].decode()
        steps = int(q.split("steps=")[1].split("&")[0])
        interval = float(q.split("interval=")[1].split(" ")[0])
        asyncio.get_running_loop().create_task(job(steps, interval))
        w.write(b"HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
        w.close()
        return
    w.write(HDR)
    STREAMS.add(w)


async def main():
    s = await asyncio.start_server(handle, "127.0.0.1", int(sys.argv[1]), backlog=4096)
    async with s:
        await s.serve_forever()


asyncio.run(main())
