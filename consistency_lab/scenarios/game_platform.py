"""Gradual strengthening on a game platform: a strong game session beside an eventual friend list.

Three regions each hold a copy of the friend list (``f0..f2``) and of the game state
(``g0..g2``); a session service (``s0..s2``) starts games in its region and the players'
clients (``p0..p2``) send their moves.

* **Friend list, always eventual.**  Accepting a friend request is written at the
  accepting player's replica and copied to the others in batches every
  ``friend_sync_ms``.  A host who invites a friend made moments ago may start the game
  from a copy that does not list them yet: a *friend missing at session start* (the
  invite fails).  With ``reconcile`` on, the session service first asks every
  replica for the joining players' friend lists and merges them (friendships are only
  ever added, so the merge is a union): no friend goes missing, for one more
  wide-area round trip before the game starts.
* **Game session, eventual or strong.**  Each move claims an item of the session; the
  last claim of every player is the win.  ``session="eventual"``: a claim is granted by
  the player's own regional copy and copied later, so two players in different regions
  can both be told the item (or the win) is theirs: a *fork*.  ``session="strong"``:
  the session's leader (the host's region) grants claims in order and answers once a
  majority holds the grant; forks cannot happen and every move pays the round trips.

Before: ``session="eventual", reconcile=False``; after: ``session="strong", reconcile=True``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

from ..latency import Exponential, Shifted
from ..metrics import percentile
from ..network import Network, NetworkOptions
from ..node import Message, Node, Reply, Request
from ..sim import Simulation
from . import register_scenario
from .base import EVENT_BUDGET, Param, RunResult, Scenario, stop_note

__all__ = ["GamePlatformResult", "GAME_PLATFORM", "FriendReplica", "GameReplica", "SessionService",
           "PlayerClient", "WIN"]

REGIONS = 3
WIN = "win"  # the item every player claims last: two winners is the fork players notice first

PARAMS = (
    Param("session", str, "eventual", "game state: eventual (granted by the regional copy) or strong "
          "(the session leader and a majority)", choices=("eventual", "strong")),
    Param("reconcile", bool, False, "merge the joining players' friend lists from every replica at session start"),
    Param("sessions", int, 150, "games played", low=1, high=5_000),
    Param("players_per_session", int, 4, "players in each game (host included)", low=2, high=8),
    Param("moves_per_player", int, 5, "item claims per player (the last one is the win)", low=1, high=50),
    Param("items", int, 6, "items to claim in each game, the win included", low=1, high=100),
    Param("fresh_friend_share", float, 0.5, "share of games where the host invites a friend made just before",
          low=0.0, high=1.0),
    Param("invite_delay_ms", float, 1_500.0, "mean time from accepting a friendship to the game start (ms)",
          low=0.0, high=600_000),
    Param("friend_sync_ms", float, 2_000.0, "friend-list copies exchange new friendships this often (ms)",
          low=1.0, high=600_000),
    Param("session_ms", float, 3_000.0, "length of play before the win claims (ms)", low=1.0, high=600_000),
    Param("claim_spread_ms", float, 150.0, "the players' win claims fall within this window (ms)",
          low=0.0, high=60_000),
    Param("wan_ms", float, 40.0, "mean one-way delay between regions (ms)", low=1.0, high=2_000),
    Param("local_ms", float, 1.0, "mean one-way delay inside a region (ms)", low=0.0, high=100),
)


# -- messages ------------------------------------------------------------------------------

@dataclass(frozen=True)
class AcceptFriend(Message):
    """Player -> own friend replica: ``a`` and ``b`` are friends now."""

    a: int
    b: int


@dataclass(frozen=True)
class FriendBatch(Message):
    """Friend replica -> peers: friendships accepted here since the last batch."""

    pairs: tuple


@dataclass(frozen=True)
class ReadFriends(Request):
    """Session service -> friend replica: the friend lists of ``players``."""

    players: tuple


@dataclass(frozen=True)
class Friends(Reply):
    """Friend replica -> session service: ``lists[i]`` is the friend tuple of the i-th player asked."""

    lists: tuple


@dataclass(frozen=True)
class Claim(Request):
    """Player client -> game replica: ``player`` claims ``item`` of ``session`` (stamped at send)."""

    session: int
    item: str
    player: int
    stamp: tuple


@dataclass(frozen=True)
class Granted(Reply):
    """Game replica -> client: whether the item is the player's."""

    ok: bool


@dataclass(frozen=True)
class CopyClaims(Message):
    """Game replica -> peers: grants made here (eventual), as (session, item, stamp, player)."""

    grants: tuple


@dataclass(frozen=True)
class Hold(Request):
    """Strong: the leader asks a follower to store a grant before answering the player."""

    grant: tuple


@dataclass(frozen=True)
class Held(Reply):
    """Strong: the follower stored the grant."""


# -- roles ---------------------------------------------------------------------------------

class FriendReplica(Node):
    """One region's copy of the friend list: accepts friendships locally, copies them in batches."""

    def __init__(self, name: str, sim: Simulation, network: Network, region: str, peers: list[str],
                 sync_ms: float, friendships: dict[int, set]) -> None:
        self.peers = peers
        self.sync_ms = sync_ms
        self.friends = {p: set(fs) for p, fs in friendships.items()}
        self.unsent: list[tuple[int, int]] = []
        super().__init__(name, sim, network, region=region)

    def _add(self, a: int, b: int) -> None:
        self.friends.setdefault(a, set()).add(b)
        self.friends.setdefault(b, set()).add(a)

    def on_AcceptFriend(self, msg: AcceptFriend, src: str) -> None:
        """Store a friendship accepted in this region; it goes out with the next batch."""
        self._add(msg.a, msg.b)
        if not self.unsent:  # the batch timer runs only while something waits to be copied
            self.set_timer(self.sync_ms, self._sync)
        self.unsent.append((msg.a, msg.b))

    def _sync(self) -> None:
        self.broadcast(self.peers, FriendBatch(tuple(self.unsent)))
        self.unsent = []

    def on_FriendBatch(self, msg: FriendBatch, src: str) -> None:
        """Store friendships accepted elsewhere (adds only: copies merge by union)."""
        for a, b in msg.pairs:
            self._add(a, b)

    def on_ReadFriends(self, msg: ReadFriends, src: str) -> None:
        """Answer with this copy's friend lists, as sorted tuples (deterministic)."""
        self.reply(src, msg, Friends, lists=tuple(tuple(sorted(self.friends.get(p, ()))) for p in msg.players))


class GameReplica(Node):
    """One region's copy of the game state: grants claims (eventual) or leads its region's sessions (strong)."""

    def __init__(self, name: str, sim: Simulation, network: Network, region: str, peers: list[str],
                 mode: str) -> None:
        self.peers = peers
        self.mode = mode
        self.owner: dict[tuple[int, str], tuple] = {}  # (session, item) -> (stamp, player), earliest wins
        super().__init__(name, sim, network, region=region)

    def _store(self, session: int, item: str, stamp: tuple, player: int) -> None:
        key = (session, item)
        if key not in self.owner or (stamp, player) < self.owner[key]:
            self.owner[key] = (stamp, player)

    def on_Claim(self, msg: Claim, src: str) -> None:
        """Grant the item if no one holds it in this copy; strong answers only once a majority has it."""
        key = (msg.session, msg.item)
        if key in self.owner:
            self.reply(src, msg, Granted, ok=False)
            return
        self._store(msg.session, msg.item, msg.stamp, msg.player)
        grant = (msg.session, msg.item, msg.stamp, msg.player)
        if self.mode == "eventual":
            self.reply(src, msg, Granted, ok=True)
            self.broadcast(self.peers, CopyClaims((grant,)))
            return
        answered = [False]

        def on_held(_reply: Held, _src: str) -> None:
            if not answered[0]:  # one follower plus the leader is a majority of three
                answered[0] = True
                self.reply(src, msg, Granted, ok=True)

        for peer in self.peers:
            self.request(peer, Hold(self.sim.next_id(), grant), None, on_held)

    def on_CopyClaims(self, msg: CopyClaims, src: str) -> None:
        """Eventual: learn grants made elsewhere (the earliest claim wins in every copy, in the end)."""
        for session, item, stamp, player in msg.grants:
            self._store(session, item, stamp, player)

    def on_Hold(self, msg: Hold, src: str) -> None:
        """Strong, as a follower: store the leader's grant and acknowledge."""
        self._store(*msg.grant)
        self.reply(src, msg, Held)


@dataclass
class Game:
    """One session's plan and what happened to it (filled in by the roles as the run goes)."""

    sid: int
    host: int
    region: int
    invitees: tuple
    fresh: int  # the invitee befriended just before, or -1
    accepted_at: float  # when that friendship was accepted
    start_at: float
    joined: tuple = ()
    missing: tuple = ()
    started_at: float = math.nan
    wins_seen: list = field(default_factory=list)
    granted: dict = field(default_factory=dict)  # item -> players told it is theirs
    answers: int = 0
    expected: int = 0


class SessionService(Node):
    """Starts games in its region: reads (or reconciles) the joining players' friend lists, then opens play."""

    def __init__(self, name: str, sim: Simulation, network: Network, region: str, local: str,
                 replicas: list[str], reconcile: bool, on_start: Callable[[Game], None]) -> None:
        self.local = local
        self.replicas = replicas
        self.reconcile = reconcile
        self.on_start = on_start
        self.start_latencies: list[float] = []
        self.reads = 0
        super().__init__(name, sim, network, region=region)

    def start(self, game: Game) -> None:
        """Look up who may join ``game``: the local copy only, or every copy merged (reconciliation)."""
        players = (game.host, *game.invitees)
        sources = self.replicas if self.reconcile else [self.local]
        merged: dict[int, set] = {p: set() for p in players}
        waiting = [len(sources)]

        def on_friends(reply: Friends, _src: str) -> None:
            for p, fs in zip(players, reply.lists):
                merged[p].update(fs)
            waiting[0] -= 1
            if waiting[0] == 0:
                self._open(game, merged)

        for replica in sources:
            self.reads += 1
            self.request(replica, ReadFriends(self.sim.next_id(), players), None, on_friends)

    def _open(self, game: Game, merged: dict[int, set]) -> None:
        # An invitee joins only if the host's list (as this start saw it) names them: the invite checks it.
        host_friends = merged[game.host]
        game.joined = tuple(p for p in game.invitees if p in host_friends)
        game.missing = tuple(p for p in game.invitees if p not in host_friends)
        game.started_at = self.sim.now
        self.start_latencies.append(self.sim.now - game.start_at)
        self.on_start(game)


class PlayerClient(Node):
    """The game clients of one region: send claims to the right copy and time the answers."""

    def __init__(self, name: str, sim: Simulation, network: Network, region: str) -> None:
        self.latencies: list[float] = []
        super().__init__(name, sim, network, region=region)

    def claim(self, game: Game, target: str, player: int, item: str) -> None:
        """Claim ``item`` for ``player``; record the answer and how long it took."""
        sent = self.sim.now

        def answered(reply: Granted, _src: str) -> None:
            self.latencies.append(self.sim.now - sent)
            game.answers += 1
            if reply.ok:
                game.granted.setdefault(item, []).append(player)
                if item == WIN:
                    game.wins_seen.append(player)

        self.request(target, Claim(self.sim.next_id(), game.sid, item, player, (sent, player)), None, answered)


# -- the run -------------------------------------------------------------------------------

@dataclass
class GamePlatformResult(RunResult):
    """A game-platform run: metrics plus every game's plan and outcome."""

    games: list = field(default_factory=list)
    move_latencies: list = field(default_factory=list)
    start_latencies: list = field(default_factory=list)


def _plan(sim: Simulation, p: dict) -> tuple[list[Game], dict[int, set], dict[int, int]]:
    """Players, their regions, the old friendships (known everywhere) and each game's invitees."""
    rng = sim.rng("plan")
    k = p["players_per_session"]
    games, old, region = [], {}, {}
    next_player = 0
    t = 0.0
    gap = p["session_ms"] / 3  # games overlap: several run at once
    for sid in range(p["sessions"]):
        host = next_player
        members = list(range(next_player, next_player + k))
        next_player += k
        for m in members:
            region[m] = rng.randrange(REGIONS)
        fresh = members[1] if rng.random() < p["fresh_friend_share"] else -1
        for m in members[1:]:
            if m != fresh:
                old.setdefault(host, set()).add(m)
                old.setdefault(m, set()).add(host)
        t += rng.expovariate(1.0 / gap)
        delay = rng.expovariate(1.0 / p["invite_delay_ms"]) if p["invite_delay_ms"] > 0 else 0.0
        games.append(Game(sid, host, region[host], tuple(members[1:]), fresh, t, t + delay))
    return games, old, region


def _run_game_platform(seed: int, p: dict, hooks: dict) -> GamePlatformResult:
    """Befriend, start games (reconciling or not), claim items; count missing friends and forks."""
    sim = Simulation(seed, trace=False, max_events=EVENT_BUDGET)
    local = Exponential(1.0 / p["local_ms"]) if p["local_ms"] > 0 else 0.0
    net = Network(sim, NetworkOptions(latency=local))
    wan = Shifted(Exponential(1.0 / (0.2 * p["wan_ms"])), 0.8 * p["wan_ms"])
    regions = [f"R{i}" for i in range(REGIONS)]
    for i, a in enumerate(regions):
        for b in regions[i + 1:]:
            net.set_region_latency(a, b, wan)
    games, old, region = _plan(sim, p)
    fnames, gnames = [f"f{i}" for i in range(REGIONS)], [f"g{i}" for i in range(REGIONS)]
    for i in range(REGIONS):
        FriendReplica(fnames[i], sim, net, regions[i], [n for n in fnames if n != fnames[i]],
                      p["friend_sync_ms"], old)
        GameReplica(gnames[i], sim, net, regions[i], [n for n in gnames if n != gnames[i]], p["session"])
    clients = [PlayerClient(f"p{i}", sim, net, regions[i]) for i in range(REGIONS)]
    befriender = [_Befriender(f"b{i}", sim, net, regions[i], fnames[i]) for i in range(REGIONS)]
    moves = sim.rng("moves")

    def play(game: Game) -> None:
        players = (game.host, *game.joined)
        ordinary = [f"item{i}" for i in range(p["items"] - 1)]
        game.expected = len(players) * p["moves_per_player"]
        for player in players:
            r = region[player]
            target = gnames[r] if p["session"] == "eventual" else gnames[game.region]
            for m in range(p["moves_per_player"]):
                last = m == p["moves_per_player"] - 1
                if last or not ordinary:
                    at, item = p["session_ms"] + moves.uniform(0, p["claim_spread_ms"]), WIN
                else:
                    at, item = moves.uniform(0, p["session_ms"]), moves.choice(ordinary)
                sim.schedule(at, clients[r].claim, game, target, player, item)

    services = [SessionService(f"s{i}", sim, net, regions[i], fnames[i], fnames, p["reconcile"], play)
                for i in range(REGIONS)]
    for game in games:
        if game.fresh >= 0:
            # The friend accepts the host's request in the friend's own region, a moment before the game.
            sim.schedule(game.accepted_at, befriender[region[game.fresh]].accept, game.host, game.fresh)
        sim.schedule(game.start_at, services[game.region].start, game)

    last_start = max(g.start_at for g in games)
    bound = (last_start + 3 * p["friend_sync_ms"] + p["session_ms"] + p["claim_spread_ms"]
             + 40 * p["wan_ms"] + 1_000.0)
    reason = sim.run_bounded(bound)
    return _result(seed, p, sim, games, clients, services, reason, bound)


class _Befriender(Node):
    """The players of one region accepting friend requests at their regional friend replica."""

    def __init__(self, name: str, sim: Simulation, network: Network, region: str, replica: str) -> None:
        self.replica = replica
        super().__init__(name, sim, network, region=region)

    def accept(self, a: int, b: int) -> None:
        """Accept the friendship of ``a`` and ``b`` here."""
        self.send(self.replica, AcceptFriend(a, b))


def _result(seed: int, p: dict, sim: Simulation, games: list[Game], clients: list[PlayerClient],
            services: list[SessionService], reason: str, bound: float) -> GamePlatformResult:
    """Count what players saw: missing friends at start, items and wins granted twice, and the waits."""
    started = [g for g in games if not math.isnan(g.started_at)]
    moves = sorted(x for c in clients for x in c.latencies)
    starts = sorted(x for s in services for x in s.start_latencies)
    forks = sum(1 for g in games for players in g.granted.values() if len(players) > 1)
    unfinished = sum(1 for g in games if math.isnan(g.started_at) or g.answers < g.expected)
    fresh_games = [g for g in games if g.fresh >= 0]
    metrics = {
        "sessions": len(games),
        "sessions_started": len(started),
        "fresh_friend_sessions": len(fresh_games),
        "missing_friend_sessions": sum(1 for g in started if g.missing),
        "missing_friend_share": (sum(1 for g in started if g.missing) / len(started)) if started else math.nan,
        "double_win_sessions": sum(1 for g in games if len(g.wins_seen) > 1),
        "double_win_share": (sum(1 for g in started if len(g.wins_seen) > 1) / len(started)) if started else math.nan,
        "item_forks": forks,
        "fork_sessions": sum(1 for g in games if any(len(v) > 1 for v in g.granted.values())),
        "move_latency_p50_ms": percentile(moves, 50) if moves else math.nan,
        "move_latency_p99_ms": percentile(moves, 99) if moves else math.nan,
        "start_latency_p50_ms": percentile(starts, 50) if starts else math.nan,
        "start_latency_p99_ms": percentile(starts, 99) if starts else math.nan,
        "friend_reads": sum(s.reads for s in services),
        "unfinished_sessions": unfinished,
    }
    import hashlib
    h = hashlib.sha256(f"{seed}|{sorted(p.items())}".encode())
    for g in games:
        h.update(f"{g.sid}:{g.joined}:{g.wins_seen}:{sorted(g.granted.items())}:{g.started_at:.9g};".encode())
    for x in moves:
        h.update(f"{x:.9g},".encode())
    stopped = stop_note(reason, bound, f"{unfinished} sessions") if unfinished else ""
    return GamePlatformResult(scenario="game_platform", seed=seed, params=dict(p), metrics=metrics,
                              trace_digest=h.hexdigest(), games=games, move_latencies=moves,
                              start_latencies=starts, stopped=stopped)


GAME_PLATFORM = register_scenario(Scenario(
    name="game_platform",
    summary="a game session made strong while the friend list stays eventual, with reconciliation at "
            "session start: missing friends, double wins and the wait",
    params=PARAMS,
    runner=_run_game_platform,
    work=lambda p: (p["sessions"] * p["players_per_session"] * p["moves_per_player"],
                    "sessions × players_per_session × moves_per_player"),
    max_work=40_000,
))
