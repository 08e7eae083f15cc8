# Relay: runs in the candidate's network namespace (network mode
# container:<id>), which has only a loopback interface. Exposes the service's
# 127.0.0.1:PORT as a unix socket in a directory shared with the grader, so
# the grader reaches the service while the service reaches nothing.
#
# One thread, one event loop: a service that never answers holds sockets,
# never threads, so the relay cannot be exhausted by the candidate (its
# container has a pids cap). Connections beyond MAX_CONNECTIONS wait in the
# listen backlog. relay.sock answers "ok" while the loop runs: the grader
# checks the relay's own health beside the candidate's.
import asyncio, os, socket

DIR = os.environ.get("RELAY_DIR", "/sock")
PORT = int(os.environ["TARGET_PORT"])
MAX = int(os.environ.get("MAX_CONNECTIONS", "2048"))


async def pump(reader, writer):
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except (OSError, asyncio.IncompleteReadError):
        pass
    finally:
        try:
            if writer.can_write_eof():
                writer.write_eof()
        except OSError:
            pass


async def serve(slots, client_r, client_w):
    async with slots:
        try:
            up_r, up_w = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", PORT), 5)
        except (OSError, asyncio.TimeoutError):
            client_w.close()
            return
        sock = up_w.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        to_service = asyncio.ensure_future(pump(client_r, up_w))
        to_client = asyncio.ensure_future(pump(up_r, client_w))
        done, _ = await asyncio.wait({to_service, to_client}, return_when=asyncio.FIRST_COMPLETED)
        if to_service in done:
            # The grader's side closed (it never half-closes): a request it
            # gave up on must not keep holding one of the service's sockets.
            to_client.cancel()
        else:
            await to_service
        for w in (client_w, up_w):
            w.close()


async def health(_r, w):
    w.write(b"ok")
    try:
        await w.drain()
    except OSError:
        pass
    w.close()


async def listen(name, handler):
    path = os.path.join(DIR, name)
    tmp = path + ".tmp"
    for p in (path, tmp):
        try:
            os.unlink(p)
        except FileNotFoundError:
            pass
    srv = await asyncio.start_unix_server(handler, path=tmp, backlog=1024)
    os.chmod(tmp, 0o666)
    os.rename(tmp, path)  # appears only once it accepts
    return srv


async def main():
    slots = asyncio.Semaphore(MAX)
    await listen("relay.sock", health)
    await listen("api.sock", lambda r, w: serve(slots, r, w))
    print("relay listening", flush=True)
    await asyncio.Event().wait()


asyncio.run(main())
