"""The peer proxy against a fake echo pair: who sent a connection, which way it carries messages, cuts."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from consistency_lab.real.etcd_proxy import LinkTable, PeerProxy, message_direction, parse_request_head

A, C = 0xA1, 0xC3  # member ids of the two dialers; the proxy stands in front of member "b"


class _Echo:
    """The fake dialed member: echoes every byte back on every connection."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self._echo, args=(conn,), daemon=True).start()

    @staticmethod
    def _echo(conn: socket.socket) -> None:
        with conn:
            try:
                while data := conn.recv(4096):
                    conn.sendall(data)
            except OSError:
                pass

    def close(self) -> None:
        self.server.close()


@pytest.fixture
def pair():
    echo = _Echo()
    links = LinkTable()
    links.learn({A: "a", C: "c"})
    proxy = PeerProxy("b", ("127.0.0.1", echo.port), links)
    yield proxy, links
    proxy.close()
    echo.close()


def _request(method: str, path: str, sender: int | None) -> bytes:
    header = f"X-Server-From: {sender:x}\r\n" if sender is not None else ""
    return f"{method} {path} HTTP/1.1\r\nHost: b\r\n{header}\r\n".encode()


def _dial(proxy: PeerProxy, method: str, path: str, sender: int | None) -> tuple[socket.socket, bytes]:
    sock = socket.create_connection(("127.0.0.1", proxy.port), timeout=3.0)
    head = _request(method, path, sender)
    sock.sendall(head)
    return sock, head


def _recv_exactly(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            break
        data += chunk
    return data


def _is_closed(sock: socket.socket) -> bool:
    sock.settimeout(3.0)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def _open(proxy: PeerProxy, method: str, path: str, sender: int | None) -> socket.socket:
    """A connection through the proxy, checked to carry bytes both ways."""
    sock, head = _dial(proxy, method, path, sender)
    assert _recv_exactly(sock, len(head)) == head
    sock.sendall(b"ping")
    assert _recv_exactly(sock, 4) == b"ping"
    return sock


def _wait_connections(proxy: PeerProxy, n: int) -> None:
    deadline = time.monotonic() + 3.0
    while len(proxy.connections()) != n and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(proxy.connections()) == n


def test_request_head_names_method_path_and_headers():
    method, path, headers = parse_request_head(b"GET /raft/stream/message/a1 HTTP/1.1\r\nX-Server-From: A1\r\n")
    assert (method, path, headers["x-server-from"]) == ("GET", "/raft/stream/message/a1", "A1")


def test_streams_carry_messages_from_the_dialed_member_and_posts_from_the_dialer():
    assert message_direction("GET", "/raft/stream/msgapp/a1", "a", "b") == ("b", "a")
    assert message_direction("POST", "/raft", "a", "b") == ("a", "b")
    assert message_direction("GET", "/version", "a", "b") == ("a", "b")


def test_the_sender_is_named_from_its_hex_member_id():
    links = LinkTable()
    links.learn({A: "a"})
    assert links.name_of("a1") == "a" and links.name_of("A1") == "a"
    assert links.name_of("ff") is None and links.name_of(None) is None and links.name_of("zz") is None


def test_bytes_flow_both_ways_through_the_proxy(pair):
    proxy, _ = pair
    sock = _open(proxy, "POST", "/raft", A)
    sock.close()
    assert ("a", "POST", "/raft") in proxy.seen


def test_a_cut_closes_established_connections_of_that_direction_only(pair):
    proxy, links = pair
    from_a = _open(proxy, "POST", "/raft", A)
    from_c = _open(proxy, "POST", "/raft", C)
    _wait_connections(proxy, 2)
    links.cut([("a", "b")])
    assert _is_closed(from_a)
    from_c.sendall(b"still")
    assert _recv_exactly(from_c, 5) == b"still"
    # a new connection on the cut link is closed right after its first request
    again, _ = _dial(proxy, "POST", "/raft", A)
    assert _is_closed(again)
    assert proxy.refused == 1
    from_c.close()


def test_a_stream_is_cut_by_the_direction_its_messages_flow(pair):
    proxy, links = pair
    stream = _open(proxy, "GET", "/raft/stream/message/a1", A)  # b writes its messages to a
    _wait_connections(proxy, 1)
    links.cut([("a", "b")])  # a's messages to b: not on this stream
    stream.sendall(b"x")
    assert _recv_exactly(stream, 1) == b"x"
    links.cut([("b", "a")])
    assert _is_closed(stream)


def test_healing_lets_new_connections_through(pair):
    proxy, links = pair
    links.cut([("a", "b")])
    refused, _ = _dial(proxy, "POST", "/raft", A)
    assert _is_closed(refused)
    links.heal()
    _open(proxy, "POST", "/raft", A).close()
    assert links.cut_links() == set()


def test_a_connection_opened_before_the_ids_were_known_is_still_cut():
    echo = _Echo()
    links = LinkTable()
    proxy = PeerProxy("b", ("127.0.0.1", echo.port), links)
    try:
        early = _open(proxy, "POST", "/raft", A)  # etcd opens its streams before we learn the ids
        _wait_connections(proxy, 1)
        links.learn({A: "a"})
        links.cut([("a", "b")])
        assert _is_closed(early)
    finally:
        proxy.close()
        echo.close()


def test_an_unknown_sender_is_never_cut(pair):
    proxy, links = pair
    links.cut([("a", "b"), ("c", "b"), ("b", "a"), ("b", "c")])
    _open(proxy, "POST", "/raft", 0xEE).close()  # named, but not a member the table knows
    unnamed, head = _dial(proxy, "POST", "/raft", None)
    forwarded = head[:-2] + b"Connection: close\r\n\r\n"
    assert _recv_exactly(unnamed, len(forwarded)) == forwarded
    unnamed.close()


def test_closing_the_proxy_closes_its_connections_and_stops_listening(pair):
    proxy, _ = pair
    sock = _open(proxy, "POST", "/raft", A)
    proxy.close()
    assert _is_closed(sock)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", proxy.port), timeout=1.0)


def test_a_request_without_a_sender_gets_its_connection_closed_after_the_reply(pair):
    # etcd's prober sends GET /raft/probing unnamed on the pipeline's keep-alive transport: reused,
    # that connection would carry raft messages past every cut.
    proxy, _ = pair
    sock = socket.create_connection(("127.0.0.1", proxy.port), timeout=3.0)
    sock.sendall(b"GET /raft/probing HTTP/1.1\r\nHost: b\r\nConnection: keep-alive\r\n\r\n")
    echoed = _recv_exactly(sock, len(b"GET /raft/probing HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n"))
    assert echoed == b"GET /raft/probing HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n"
    sock.close()
    named = _open(proxy, "POST", "/raft", A)  # a named request is forwarded unchanged
    named.close()
