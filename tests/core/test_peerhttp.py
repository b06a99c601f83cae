"""The outbox's HTTP/1.1 client against small raw servers: keep-alive reuse, a connection the
peer closed meanwhile replaced (the request sent once more), chunked and read-until-close
bodies, and a peer that does not answer in time."""

from __future__ import annotations

import asyncio

import pytest

from eduketen.core.peerhttp import PeerClient, PeerHttpError


async def _serve(answer, *, close_after: bool = False):
    """A raw HTTP server: reads each request (head and Content-Length body) and writes
    ``answer(n)`` for the n-th request; ``close_after`` closes the connection after every answer
    without saying so (as a server whose keep-alive timeout ran out)."""
    seen: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                body = await reader.readexactly(length) if length else b""
                seen.append(head.split(b"\r\n", 1)[0] + b" " + body)
                reply = answer(len(seen))
                if reply is None:
                    await asyncio.sleep(5)  # never answers in time
                    return
                writer.write(reply)
                await writer.drain()
                if close_after:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1], seen


def _ok(body: bytes = b"ok", extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\nContent-Length: %d\r\n%s\r\n%s" % (len(body), extra, body)


def run(coro):
    return asyncio.new_event_loop().run_until_complete(coro)


def test_keep_alive_reuses_one_connection():
    async def go():
        server, port, seen = await _serve(lambda n: _ok(b'{"n": %d}' % n))
        client = PeerClient(None, per_origin=1)
        answers = [await client.request("POST", f"http://127.0.0.1:{port}/x?a=1", b"{}", {"Content-Type": "application/json"}) for _ in range(3)]
        await client.aclose()
        server.close()
        return answers, client.connections_opened, seen

    answers, opened, seen = run(go())
    assert [a.status for a in answers] == [202, 202, 202] and answers[2].body == b'{"n": 3}'
    assert answers[0].content_type == "application/json"
    assert opened == 1 and seen[0] == b"POST /x?a=1 HTTP/1.1 {}"


def test_a_connection_closed_by_the_peer_is_replaced_and_the_request_sent_again():
    async def go():
        server, port, seen = await _serve(lambda n: _ok(), close_after=True)
        client = PeerClient(None, per_origin=1, idle_seconds=60)
        first = await client.request("GET", f"http://127.0.0.1:{port}/r")
        await asyncio.sleep(0.05)  # the peer has closed the idle connection by now
        second = await client.request("GET", f"http://127.0.0.1:{port}/r")
        await client.aclose()
        server.close()
        return first, second, client.connections_opened, seen

    first, second, opened, seen = run(go())
    assert first.status == second.status == 202
    assert opened == 2 and len(seen) == 2  # nothing was lost, and nothing sent twice to the peer


def test_interim_answers_chunked_and_read_until_close_bodies():
    chunked = (b"HTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n"
               b"HTTP/1.1 200 OK\r\nContent-Type: application/pdf\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n%PDF\r\n3\r\n-1.\r\n0\r\n\r\n")
    until_close = b"HTTP/1.0 200 OK\r\n\r\nall of it"  # HTTP/1.0, no length: the body ends when the peer closes

    async def go():
        server, port, _ = await _serve(lambda n: chunked if n == 1 else until_close, close_after=True)
        client = PeerClient(None, per_origin=1)
        a = await client.request("GET", f"http://127.0.0.1:{port}/a")
        b = await client.request("GET", f"http://127.0.0.1:{port}/b")
        await client.aclose()
        server.close()
        return a, b

    a, b = run(go())
    assert a.body == b"%PDF-1." and a.content_type == "application/pdf"
    assert b.body == b"all of it"


def test_no_answer_in_time_and_not_http():
    async def go():
        server, port, _ = await _serve(lambda n: None if n == 1 else b"SMTP ready\r\n\r\n")
        client = PeerClient(None, per_origin=2, timeout=0.3)
        with pytest.raises(TimeoutError):
            await client.request("GET", f"http://127.0.0.1:{port}/slow")
        with pytest.raises(PeerHttpError):
            await client.request("GET", f"http://127.0.0.1:{port}/odd")
        await client.aclose()
        server.close()

    run(go())
