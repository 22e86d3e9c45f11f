"""Bounds on what a client or an agent can make the server hold, each tried with its attack.

Raw sockets against a real server on 127.0.0.1 (limits.py, settings.py): oversized and
endless request heads, idle and slow connections, more connections than file
descriptors, clients that never read, an agent that never waits, replays kept forever.
"""

from __future__ import annotations

import importlib
import json
import resource
import select
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2 as httpx
import pytest

from conftest import PACKAGE, TEST_AGENT, Served, start_server

settings = importlib.import_module(f"{PACKAGE}.hosting.settings")

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()
LIMITS = {
    "MAX_HEADER_BYTES": "16384",
    "MAX_HEADERS": "20",
    "MAX_REQUEST_LINE_BYTES": "1024",
    "HEADER_TIMEOUT_SECONDS": "1",
    "IDLE_TIMEOUT_SECONDS": "1",
    "MAX_CONNECTIONS": "40",
    "WRITE_BUFFER_BYTES": "16384",
    "WRITE_TIMEOUT_SECONDS": "1",
    "REPLAY_SECONDS": "2",
    "REPLAY_MAX_BYTES": "60000",
}


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The scripted agent behind small limits."""
    home = tmp_path_factory.mktemp("limited")
    process, url = start_server(home, "--agent", TEST_AGENT, **LIMITS)
    yield Served(url, home, process)
    process.terminate()
    process.wait(timeout=30)


def connect(served: Served) -> socket.socket:
    host, port = served.url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    return sock


def answer(sock: socket.socket, seconds: float = 5) -> bytes:
    """Everything the server sends until it closes (or `seconds` pass)."""
    sock.settimeout(seconds)
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except (TimeoutError, ConnectionResetError):
        pass
    return data


def closed_within(sock: socket.socket, seconds: float) -> bool:
    """True when the server closes the connection within `seconds`."""
    sock.settimeout(seconds)
    try:
        while sock.recv(65536):
            pass
    except TimeoutError:
        return False
    except ConnectionResetError:
        pass
    return True


NEW_SETTINGS = {
    "REPLAY_SECONDS": ("replay_seconds", 600.0),
    "REPLAY_MAX_BYTES": ("replay_max_bytes", 64 * 1024 * 1024),
    "MAX_CONNECTIONS": ("max_connections", 1000),
    "MAX_HEADER_BYTES": ("max_header_bytes", 65536),
    "MAX_HEADERS": ("max_headers", 100),
    "MAX_REQUEST_LINE_BYTES": ("max_request_line_bytes", 8192),
    "HEADER_TIMEOUT_SECONDS": ("header_timeout_seconds", 10.0),
    "IDLE_TIMEOUT_SECONDS": ("idle_timeout_seconds", 5.0),
    "WRITE_BUFFER_BYTES": ("write_buffer_bytes", 262144),
    "WRITE_TIMEOUT_SECONDS": ("write_timeout_seconds", 30.0),
}


@pytest.mark.parametrize("name", NEW_SETTINGS)
def test_each_limit_has_its_documented_default_and_refuses_nonsense(name: str) -> None:
    field, default = NEW_SETTINGS[name]
    assert getattr(settings.Settings.from_env({}), field) == default
    assert f"`{name}` | {int(default) if float(default).is_integer() else default} |" in README
    with pytest.raises(settings.SettingsError, match=name):
        settings.Settings.from_env({name: "-1"})
    with pytest.raises(settings.SettingsError, match=name):
        settings.Settings.from_env({name: "lots"})


def test_a_replay_budget_too_small_for_any_frame_is_refused() -> None:
    """REPLAY_MAX_BYTES=0 dropped every frame: the creating client's stream had no events."""
    for small in ("0", "16383"):
        with pytest.raises(settings.SettingsError, match="REPLAY_MAX_BYTES.*at least 16384"):
            settings.Settings.from_env({"REPLAY_MAX_BYTES": small})
    assert settings.Settings.from_env({"REPLAY_MAX_BYTES": "16384"}).replay_max_bytes == 16384


def vm_kib(pid: int, field: str) -> int:
    """A memory figure of a process from /proc (VmRSS:, VmHWM:), in KiB."""
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    return int(next(line for line in lines if line.startswith(field)).split()[1])


def test_a_head_past_the_size_limit_gets_431(limited: Served) -> None:
    sock = connect(limited)
    sock.sendall(b"GET /readiness HTTP/1.1\r\nhost: x\r\nx-big: " + b"a" * 20000 + b"\r\n\r\n")
    reply = answer(sock)
    assert reply.startswith(b"HTTP/1.1 431 ")
    assert json.loads(reply.split(b"\r\n\r\n", 1)[1])["error"]["code"] == "headers_too_large"


def test_a_body_read_with_its_head_does_not_count_as_head(limited: Served) -> None:
    """A small head with a body past MAX_HEADER_BYTES, read at once, twice on one connection."""
    body = json.dumps({"input": "words " + "x " * 10_000}).encode()  # 20 KB; the limit is 16 KiB
    request = b"POST /responses HTTP/1.1\r\nhost: x\r\ncontent-length: %d\r\n\r\n" % len(body)
    sock = connect(limited)
    for _ in range(2):
        sock.sendall(request + body)
        sock.settimeout(10)
        head = sock.recv(65536)
        assert head.startswith(b"HTTP/1.1 200 "), head[:100]
        length = int(head.split(b"content-length: ", 1)[1].split(b"\r\n", 1)[0])
        received = len(head.split(b"\r\n\r\n", 1)[1])
        while received < length:
            received += len(sock.recv(65536))
    sock.close()


def test_an_endless_unfinished_header_is_cut_off(limited: Served) -> None:
    """Megabytes of one header that never ends: the server stops reading, it does not buffer."""
    sock = connect(limited)
    sock.sendall(b"POST /responses HTTP/1.1\r\nhost: x\r\nx-big: ")
    sent = 0
    with pytest.raises(OSError):  # noqa: PT012 (the reset comes on one of the sends)
        while sent < 16 * 1024 * 1024:
            sock.sendall(b"a" * 65536)
            sent += 65536
            if select.select([sock], [], [], 0)[0] and not sock.recv(65536):
                raise ConnectionResetError("closed by the server")
    assert sent < 4 * 1024 * 1024


def test_too_many_headers_get_431(limited: Served) -> None:
    sock = connect(limited)
    fields = b"".join(b"x-%d: v\r\n" % n for n in range(30))
    sock.sendall(b"GET /readiness HTTP/1.1\r\nhost: x\r\n" + fields + b"\r\n")
    assert answer(sock).startswith(b"HTTP/1.1 431 ")


def test_a_long_request_line_gets_414(limited: Served) -> None:
    sock = connect(limited)
    sock.sendall(b"GET /responses/" + b"a" * 2000 + b" HTTP/1.1\r\nhost: x\r\n\r\n")
    reply = answer(sock)
    assert reply.startswith(b"HTTP/1.1 414 ")
    assert b"request_line_too_long" in reply


def test_a_slow_head_gets_408_and_an_idle_connection_is_closed(limited: Served) -> None:
    slow, idle = connect(limited), connect(limited)
    slow.sendall(b"GET /readiness HTTP/1.1\r\nhost: x\r\n")  # and never the blank line
    started = time.monotonic()
    assert answer(slow).startswith(b"HTTP/1.1 408 ")
    assert closed_within(idle, 5)
    assert time.monotonic() - started < 5


def test_a_kept_alive_connection_is_closed_when_idle(limited: Served) -> None:
    sock = connect(limited)
    sock.sendall(b"GET /readiness HTTP/1.1\r\nhost: x\r\n\r\n")
    sock.settimeout(5)
    assert sock.recv(65536).startswith(b"HTTP/1.1 200 ")
    assert closed_within(sock, 3)  # IDLE_TIMEOUT_SECONDS=1; uvicorn's own is 5


def test_a_slow_head_after_a_first_request_gets_408(limited: Served) -> None:
    sock = connect(limited)
    sock.sendall(b"GET /readiness HTTP/1.1\r\nhost: x\r\n\r\n")
    sock.settimeout(5)
    assert sock.recv(65536).startswith(b"HTTP/1.1 200 ")
    started = time.monotonic()
    sock.sendall(b"GET /readiness HTTP/1.1\r\nhost: x\r\n")  # and never the blank line
    for _ in range(8):  # keep trickling bytes, as a slow-headers attack does
        time.sleep(0.25)
        try:
            sock.sendall(b"x-slow: 1\r\n")
        except OSError:
            break
    assert answer(sock).startswith(b"HTTP/1.1 408 ")
    assert time.monotonic() - started < 2.5  # HEADER_TIMEOUT_SECONDS=1 from its first byte


def test_idle_connections_past_the_limit_make_room(limited: Served) -> None:
    idle = [connect(limited) for _ in range(100)]  # MAX_CONNECTIONS=40
    time.sleep(0.3)
    assert httpx.get(f"{limited.url}/readiness", timeout=5).status_code == 200
    assert closed_within(idle[0], 1)  # the oldest made room
    for sock in idle:
        sock.close()


def test_busy_connections_past_the_limit_get_503_but_readiness_answers(limited: Served) -> None:
    # Requests that wait for a body that never comes: none of them can be closed to make room.
    busy = [connect(limited) for _ in range(45)]
    for sock in busy:
        sock.sendall(b"POST /responses HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\n")
    time.sleep(0.3)
    try:
        # A new connection past the limit may shed one that was still idle (its request not
        # read yet) as well as being refused: hold one more busy connection until a request
        # finds none to shed.
        for _ in range(10):
            refused = httpx.get(f"{limited.url}/responses/caresp_x", timeout=5)
            if refused.status_code != 404:
                break
            busy.append(connect(limited))
            busy[-1].sendall(b"POST /responses HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\n")
            time.sleep(0.1)
        assert refused.status_code == 503
        assert refused.json()["error"]["code"] == "too_many_connections"
        assert httpx.get(f"{limited.url}/readiness", timeout=5).status_code == 200
    finally:
        for sock in busy:
            sock.close()


def test_readiness_answers_with_more_idle_connections_than_file_descriptors(
    tmp_path: Path,
) -> None:
    """At nofile=1024, 1,100 idle connections took readiness down (accept failed)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 1300 and hard >= 1300:
        resource.setrlimit(resource.RLIMIT_NOFILE, (1300, hard))
    elif soft < 1300:
        pytest.skip("this test needs 1,300 open files")
    log = tmp_path / "server.log"
    process, url = start_server(tmp_path, log=log, open_files=1024)
    served = Served(url, tmp_path, process)
    idle = []
    try:
        for _ in range(1100):
            idle.append(connect(served))
        time.sleep(0.5)
        assert httpx.get(f"{url}/readiness", timeout=5).status_code == 200
    finally:
        for sock in idle:
            sock.close()
        process.terminate()
        process.wait(timeout=30)
    assert "does not fit the open-files limit (1024)" in log.read_text()


def test_a_client_that_does_not_read_is_dropped(limited: Served) -> None:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    host, port = limited.url.removeprefix("http://").split(":")
    sock.connect((host, int(port)))
    body = json.dumps({"input": "words " + "word " * 200_000, "stream": True}).encode()
    head = b"POST /responses HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
    sock.sendall(head + b"content-length: %d\r\n\r\n" % len(body) + body)
    time.sleep(4)  # WRITE_TIMEOUT_SECONDS=1: dropped by now
    received = answer(sock, 10)
    assert received.startswith(b"HTTP/1.1 200 ")
    assert b"response.completed" not in received


needs_proc = pytest.mark.skipif(
    not Path("/proc/self/status").exists(), reason="reads memory from /proc (Linux)"
)


@needs_proc
def test_an_agent_that_never_waits_neither_holds_the_loop_nor_grows_memory(
    tmp_path: Path,
) -> None:
    """1 MiB of words the agent yields without awaiting, streamed to a reading client."""
    process, url = start_server(tmp_path, "--agent", TEST_AGENT)
    before = vm_kib(process.pid, "VmRSS:")
    done = threading.Event()
    worst = 0.0

    def probe() -> None:
        nonlocal worst
        with httpx.Client(timeout=30) as probe_client:
            while not done.is_set():
                started = time.monotonic()
                probe_client.get(f"{url}/readiness")
                worst = max(worst, time.monotonic() - started)
                time.sleep(0.02)

    prober = threading.Thread(target=probe)
    try:
        prober.start()
        body = {"input": "words " + "word " * 210_000, "stream": True}
        tail, completed = b"", False
        with httpx.stream("POST", f"{url}/responses", json=body, timeout=120) as reply:
            for chunk in reply.iter_bytes():
                completed = completed or b"event: response.completed" in tail + chunk
                tail = chunk[-64:]
        done.set()
        prober.join()
        peak = vm_kib(process.pid, "VmHWM:")
    finally:
        done.set()
        process.terminate()
        process.wait(timeout=30)
    assert completed
    assert worst < 0.5, f"the loop was held {worst:.2f} s"
    assert peak - before < 120 * 1024, f"peak grew by {(peak - before) // 1024} MiB"


def background_stream(served: Served, words: str) -> str:
    """Run a background stream to its end; its response id."""
    body = {"input": f"words {words}", "stream": True, "background": True}
    reply = httpx.post(f"{served.url}/responses", json=body, timeout=30)
    first = next(line for line in reply.text.splitlines() if line.startswith("data: "))
    return json.loads(first[len("data: ") :])["response"]["id"]


def replay(served: Served, response_id: str) -> httpx.Response:
    url = f"{served.url}/responses/{response_id}"
    return httpx.get(url, params={"stream": "true"}, timeout=30)


def test_a_deleted_response_is_not_replayed(limited: Served) -> None:
    response_id = background_stream(limited, "gone soon")
    assert replay(limited, response_id).status_code == 200
    assert httpx.delete(f"{limited.url}/responses/{response_id}").status_code == 200
    assert replay(limited, response_id).status_code == 404


def test_replays_expire_on_their_own(limited: Served) -> None:
    response_id = background_stream(limited, "kept a while")
    assert replay(limited, response_id).status_code == 200
    time.sleep(2.5)  # REPLAY_SECONDS=2, and no other background run ends meanwhile
    expired = replay(limited, response_id)
    assert expired.status_code == 400
    assert "REPLAY_SECONDS" in expired.json()["error"]["message"]


def test_replays_are_bounded_by_bytes(limited: Served) -> None:
    many = " ".join(["word"] * 90)  # REPLAY_MAX_BYTES=60000 holds two of these
    first, second, third = (background_stream(limited, many) for _ in range(3))
    assert 20000 < len(replay(limited, third).content) < 30000
    assert replay(limited, first).status_code == 400
    assert replay(limited, second).status_code == 200
    assert replay(limited, third).status_code == 200


def test_a_response_gone_from_the_store_is_not_replayed(limited: Served) -> None:
    """Deleted another way than DELETE (say, by retention): its replay goes too."""
    response_id = background_stream(limited, "removed underneath")
    assert replay(limited, response_id).status_code == 200
    (database,) = limited.home.rglob("responses.sqlite3")
    with sqlite3.connect(database) as db:
        db.execute("DELETE FROM responses WHERE id = ?", (response_id,))
    assert replay(limited, response_id).status_code == 404


@needs_proc
def test_a_background_stream_keeps_a_bounded_tail_of_its_frames(tmp_path: Path) -> None:
    """400,000 words in the background: every frame was kept while it ran (+178 MiB peak)."""
    process, url = start_server(tmp_path, "--agent", TEST_AGENT, REPLAY_MAX_BYTES="1048576")
    try:
        before = vm_kib(process.pid, "VmRSS:")
        body = {"input": "words " + "word " * 400_000, "stream": True, "background": True}
        first = None
        with httpx.stream("POST", f"{url}/responses", json=body, timeout=120) as reply:
            for line in reply.iter_lines():
                if first is None and line.startswith("data: "):
                    first = json.loads(line[len("data: ") :])
        assert first is not None
        response_id = first["response"]["id"]
        served = Served(url, tmp_path, process)
        deadline = time.monotonic() + 60
        while httpx.get(f"{url}/responses/{response_id}").json()["status"] != "completed":
            assert time.monotonic() < deadline
            time.sleep(0.2)
        peak = vm_kib(process.pid, "VmHWM:")
        assert replay(served, response_id).status_code == 400  # its start was dropped
    finally:
        process.terminate()
        process.wait(timeout=30)
    assert peak - before < 110 * 1024, f"peak grew by {(peak - before) // 1024} MiB"
