"""A TCP proxy for etcd's peer traffic that can cut one direction between two members.

Every member advertises one peer URL, and that URL is a port of this proxy, which forwards
to the member's real peer listener.  To cut *one pair* the proxy must know who is on the
other end of each connection.  It reads the ``X-Server-From`` header of the first HTTP
request on a connection: etcd's rafthttp sets it (the sender's member id, in hex) on every
peer request it dials (streams, pipeline, snapshots, probes).  The alternatives do not fit
here: per-member loopback addresses (127.0.0.x) do not name the sender, because etcd has no
option to choose the *source* address of the connections it dials, so every dial comes from
127.0.0.1; network namespaces would, but they need root and ``ip netns`` on the student's
machine.  The header needs neither.

Which way raft messages flow on a connection depends on its first request: on a stream
``GET /raft/stream/...`` the dialer asks to *receive*, so messages flow from the dialed
member back to the dialer; on every other request (pipeline ``POST /raft``, snapshots,
probes) the dialer's messages flow to the dialed member.  A connection is therefore
labelled with the direction of its messages, (sender, receiver), and :meth:`LinkTable.cut`
of ``(a, b)`` blocks exactly the connections carrying a's messages to b: a one-way cut.
Cutting closes the established connections of that direction (etcd keeps streams open for
the whole run, so refusing new connections alone would cut nothing) and closes every new
one right after its first request.  Requests on a connection that was not blocked when it
opened keep the direction of its first request (rafthttp keeps streams and pipelines on
separate transports, so a connection never changes kind).

A request without the header (etcd's prober, ``/version``, ``/members``) gets
``Connection: close`` added, so its connection ends with its one reply and cannot be reused
for pipeline messages that would then pass unnamed.  Senders that the table cannot name are
never cut; the ids are learned right after start-up, and a connection's name is looked up
again at every cut, so the streams opened before that are cut too.
"""

from __future__ import annotations

import socket
import threading
from collections import deque
from dataclasses import dataclass
from typing import Callable, Deque, Dict, Iterable, List, Optional, Set, Tuple

__all__ = ["LinkTable", "PeerProxy", "ProxyConnection", "parse_request_head", "message_direction"]

_HEAD_LIMIT = 64 * 1024  # a request head larger than this is not rafthttp's
_CHUNK = 64 * 1024
_SEEN = 512


def parse_request_head(head: bytes) -> Tuple[str, str, Dict[str, str]]:
    """Method, path and headers (lower-cased names) of an HTTP/1.x request head."""
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    method, path = (parts[0], parts[1]) if len(parts) >= 2 else ("", "")
    headers: Dict[str, str] = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    return method, path, headers


def message_direction(method: str, path: str, dialer: str, dialed: str) -> Tuple[str, str]:
    """(sender, receiver) of the raft messages on a connection ``dialer`` opened to ``dialed``."""
    if method == "GET" and path.startswith("/raft/stream/"):
        return dialed, dialer  # a stream: the dialed member writes its messages into the response
    return dialer, dialed


def _one_request_only(data: bytes) -> bytes:
    """The request with ``Connection: close``, so its connection carries nothing after it.

    etcd's prober sends ``GET /raft/probing`` without ``X-Server-From`` on the same keep-alive
    transport as the pipeline; reused, that unnamed connection would carry raft messages
    past every cut.
    """
    head, sep, rest = data.partition(b"\r\n\r\n")
    lines = [line for line in head.split(b"\r\n") if not line.lower().startswith(b"connection:")]
    return b"\r\n".join(lines + [b"Connection: close"]) + sep + rest


class LinkTable:
    """Which directed links (sender -> receiver) are cut, and which member id is which name."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cut: Set[Tuple[str, str]] = set()
        self._names: Dict[int, str] = {}  # member id -> member name
        self._listeners: List[Callable[[], None]] = []

    def learn(self, ids: Dict[int, str]) -> None:
        """Record member names by numeric member id (``X-Server-From`` carries it in hex)."""
        with self._lock:
            self._names.update({int(member_id): name for member_id, name in ids.items()})

    def name_of(self, header: Optional[str]) -> Optional[str]:
        """The member name for an ``X-Server-From`` value, or None when unknown."""
        try:
            member_id = int((header or "").strip(), 16)
        except ValueError:
            return None
        with self._lock:
            return self._names.get(member_id)

    def cut(self, pairs: Iterable[Tuple[str, str]]) -> None:
        """Block each directed link (sender, receiver); established connections on it are closed."""
        with self._lock:
            self._cut.update(pairs)
            listeners = list(self._listeners)
        for notify in listeners:
            notify()

    def heal(self, pairs: Optional[Iterable[Tuple[str, str]]] = None) -> None:
        """Unblock the given directed links (all of them when ``pairs`` is None)."""
        with self._lock:
            if pairs is None:
                self._cut.clear()
            else:
                self._cut.difference_update(pairs)

    def blocked(self, sender: Optional[str], receiver: Optional[str]) -> bool:
        """Is the link sender -> receiver cut?  Unknown ends are never cut."""
        if sender is None or receiver is None:
            return False
        with self._lock:
            return (sender, receiver) in self._cut

    def cut_links(self) -> Set[Tuple[str, str]]:
        """The directed links cut right now."""
        with self._lock:
            return set(self._cut)

    def on_cut(self, notify: Callable[[], None]) -> None:
        """Call ``notify`` after every :meth:`cut` (a proxy closes its blocked connections)."""
        with self._lock:
            self._listeners.append(notify)


def _direction(links: LinkTable, method: str, path: str, server_from: Optional[str],
               dialed: str) -> Tuple[Optional[str], Optional[str]]:
    dialer = links.name_of(server_from)
    if dialer is None:
        return None, None
    return message_direction(method, path, dialer, dialed)


@dataclass
class ProxyConnection:
    """One proxied connection: its first request (method, path, ``X-Server-From``) and both sockets."""

    dialed: str
    method: str
    path: str
    server_from: Optional[str]
    client: socket.socket
    upstream: socket.socket

    def direction(self, links: LinkTable) -> Tuple[Optional[str], Optional[str]]:
        """(sender, receiver) of its raft messages, named with what ``links`` knows now."""
        return _direction(links, self.method, self.path, self.server_from, self.dialed)

    def close(self) -> None:
        """Shut both sockets down (wakes the pump threads blocked in recv)."""
        for sock in (self.client, self.upstream):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            try:
                sock.close()
            except OSError:
                pass


class PeerProxy:
    """Listens on ``listen`` for member ``name`` and forwards to its real peer port ``upstream``."""

    def __init__(self, name: str, upstream: Tuple[str, int], links: LinkTable,
                 listen: Tuple[str, int] = ("127.0.0.1", 0)) -> None:
        self.name = name
        self.upstream = upstream
        self.links = links
        self._server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._server.bind(listen)
        self._server.listen(64)
        self.address: Tuple[str, int] = self._server.getsockname()
        self._lock = threading.Lock()
        self._conns: List[ProxyConnection] = []
        self._closed = False
        self.refused = 0  # connections closed at their first request because their link was cut
        # (dialer, method, path) of the latest first requests: for tests and for a curious student
        self.seen: Deque[Tuple[Optional[str], str, str]] = deque(maxlen=_SEEN)
        links.on_cut(self.close_blocked)
        self._thread = threading.Thread(target=self._accept_loop, name=f"peer-proxy-{name}", daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        """The port members dial (the advertised peer URL's port)."""
        return self.address[1]

    def connections(self) -> List[ProxyConnection]:
        """The connections open right now."""
        with self._lock:
            return list(self._conns)

    def _accept_loop(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return  # closed
            threading.Thread(target=self._serve, args=(client,), daemon=True,
                             name=f"peer-proxy-{self.name}-conn").start()

    def _read_head(self, client: socket.socket) -> Optional[bytes]:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = client.recv(_CHUNK)
            if not chunk or len(data) > _HEAD_LIMIT:
                return None if not data else data
            data += chunk
        return data

    def _serve(self, client: socket.socket) -> None:
        try:
            client.settimeout(10.0)
            first = self._read_head(client)
            client.settimeout(None)
        except OSError:
            client.close()
            return
        if first is None:
            client.close()
            return
        head = first.split(b"\r\n\r\n", 1)[0]
        method, path, headers = parse_request_head(head)
        server_from = headers.get("x-server-from")
        if server_from is None:
            first = _one_request_only(first)
        with self._lock:
            self.seen.append((self.links.name_of(server_from), method, path))
        if self._closed or self.links.blocked(*_direction(self.links, method, path, server_from, self.name)):
            with self._lock:
                self.refused += 1
            client.close()
            return
        try:
            upstream = socket.create_connection(self.upstream, timeout=5.0)
            upstream.settimeout(None)
        except OSError:
            client.close()  # the member is down: the dialer sees a reset, as it would without a proxy
            return
        # Names are looked up again at every cut, not only now: the streams etcd opens at
        # bootstrap predate LinkTable.learn and must still be closed by a later cut.
        conn = ProxyConnection(self.name, method, path, server_from, client, upstream)
        with self._lock:
            if self._closed:
                conn.close()
                return
            self._conns.append(conn)
        # The cut may have landed between the check above and the registration: check again.
        if self.links.blocked(*conn.direction(self.links)):
            self._drop(conn)
            return
        try:
            upstream.sendall(first)
        except OSError:
            self._drop(conn)
            return
        threading.Thread(target=self._pump, args=(upstream, client, conn), daemon=True).start()
        self._pump(client, upstream, conn)

    def _pump(self, src: socket.socket, dst: socket.socket, conn: ProxyConnection) -> None:
        try:
            while True:
                data = src.recv(_CHUNK)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        self._drop(conn)

    def _drop(self, conn: ProxyConnection) -> None:
        conn.close()
        with self._lock:
            if conn in self._conns:
                self._conns.remove(conn)

    def close_blocked(self) -> int:
        """Close the established connections whose direction is cut; returns how many."""
        victims = [c for c in self.connections() if self.links.blocked(*c.direction(self.links))]
        for conn in victims:
            self._drop(conn)
        return len(victims)

    def close(self) -> None:
        """Stop listening and close every connection (idempotent)."""
        with self._lock:
            self._closed = True
            conns = list(self._conns)
            self._conns.clear()
        try:
            self._server.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in accept()
        except OSError:
            pass
        try:
            self._server.close()
        except OSError:
            pass
        for conn in conns:
            conn.close()
