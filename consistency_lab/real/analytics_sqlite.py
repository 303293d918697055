"""Analytics on a normalised write store against a projection, on real SQLite files.

The same seeded stream of package scans is written twice, into two database files in a
temporary directory:

``write store`` (normalised, what the command side owns)
    ``depots``, ``routes`` (each belongs to a depot), ``packages`` (each on a route) and
    ``scans`` (package, depot, time, kind), with the keys and indexes a careful engineer
    would add: primary keys, ``packages(route_id)``, ``scans(package_id, scanned_at)``
    and ``scans(scanned_at)``.
``projection`` (the read model, fed from the same events)
    ``route_daily`` (route, day -> scans; primary key (route, day)), pre-aggregated and
    carrying the depot's region, and ``package_latest`` (package -> route, last depot, last
    scan time), both kept up to date one event at a time by upserts, as a projector would.

Then each query shape runs against both stores, alternating, ``repeats`` times; the two
answers must be equal (a :class:`ValueError` says so otherwise) and the medians give the
speed-up.  Query shapes:

``daily_counts``  scans per route per day over one week, for every route;
``top_routes``    the ten busiest routes of the last week, with their depot's region;
``route_history`` one route's scans per day over the whole period;
``package_lookup`` one package's latest scan (a point lookup by primary key or index).

**Wall-clock time, measured, not simulated**: numbers differ between machines and runs;
only the answers are deterministic.  Tests assert the answers, never a speed.
"""

from __future__ import annotations

import random
import sqlite3
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from ..validation import count

__all__ = ["QUERY_SHAPES", "AnalyticsTiming", "ScanEvent", "scan_events", "build_write_store",
           "build_projection", "run_analytics_comparison", "store_answers"]

DAY_S = 86_400
#: The query shapes, in the order they are measured.
QUERY_SHAPES = ("daily_counts", "top_routes", "route_history", "package_lookup")
_REGIONS = ("north", "south", "east", "west", "central")


@dataclass(frozen=True)
class ScanEvent:
    """One ``ScanRecorded`` event: which package, at which depot, when (epoch s), what kind of scan."""

    scan_id: int
    package_id: int
    route_id: int
    depot_id: int
    scanned_at: int
    kind: str


@dataclass(frozen=True)
class AnalyticsTiming:
    """One query shape at one data size: min and median times (ms) on each store, and the speed-up."""

    scans: int
    query: str
    write_min_ms: float
    write_median_ms: float
    read_min_ms: float
    read_median_ms: float
    rows: int  # rows in the answer (the same on both sides)

    @property
    def speedup(self) -> float:
        """Median time on the write store / median time on the projection (4 = "400 % faster" read as 4x)."""
        return self.write_median_ms / self.read_median_ms if self.read_median_ms > 0 else float("inf")


def scan_events(scans: int, *, routes: int = 60, depots: int = 12, packages: int = 0, days: int = 60,
                seed: int = 0) -> tuple[list[tuple[int, int, str]], list[tuple[int, int]], list[ScanEvent]]:
    """A seeded workload: (routes as (id, depot, name), packages as (id, route), scans in time order).

    Packages default to one per five scans; each package stays on its route, and its scans
    happen at its route's depot or the hub (depot 0).
    """
    scans = count("scans", scans)
    routes = count("routes", routes)
    depots = count("depots", depots)
    days = count("days", days)
    packages = count("packages", packages or max(1, scans // 5))
    rng = random.Random(f"analytics/{seed}")
    route_rows = [(r, r % depots, f"route-{r}") for r in range(routes)]
    # Route popularity is skewed (a few trunk routes carry most parcels), so top-N is meaningful.
    weights = [1.0 / (1 + r) ** 0.8 for r in range(routes)]
    package_rows = [(pkg, rng.choices(range(routes), weights)[0]) for pkg in range(packages)]
    start = 1_700_000_000 - 1_700_000_000 % DAY_S
    times = sorted(start + rng.randrange(days * DAY_S) for _ in range(scans))
    events = []
    for i, t in enumerate(times):
        pkg = rng.randrange(packages)
        route = package_rows[pkg][1]
        depot = route_rows[route][1] if rng.random() < 0.7 else 0
        events.append(ScanEvent(i, pkg, route, depot, t, rng.choice(("arrival", "departure", "delivery"))))
    return route_rows, package_rows, events


def build_write_store(path: Path, routes: Sequence[tuple[int, int, str]], packages: Sequence[tuple[int, int]],
                      events: Sequence[ScanEvent], depots: int = 12) -> None:
    """The normalised write store, with primary keys, foreign keys and the indexes the queries need."""
    con = sqlite3.connect(path)
    try:
        con.executescript("""
            CREATE TABLE depots (id INTEGER PRIMARY KEY, name TEXT NOT NULL, region TEXT NOT NULL);
            CREATE TABLE routes (id INTEGER PRIMARY KEY, depot_id INTEGER NOT NULL REFERENCES depots(id),
                                 name TEXT NOT NULL);
            CREATE TABLE packages (id INTEGER PRIMARY KEY, route_id INTEGER NOT NULL REFERENCES routes(id));
            CREATE TABLE scans (id INTEGER PRIMARY KEY, package_id INTEGER NOT NULL REFERENCES packages(id),
                                depot_id INTEGER NOT NULL REFERENCES depots(id), scanned_at INTEGER NOT NULL,
                                kind TEXT NOT NULL);
        """)
        con.executemany("INSERT INTO depots VALUES (?, ?, ?)",
                        [(d, f"depot-{d}", _REGIONS[d % len(_REGIONS)]) for d in range(depots)])
        con.executemany("INSERT INTO routes VALUES (?, ?, ?)", [(r, d, name) for r, d, name in routes])
        con.executemany("INSERT INTO packages VALUES (?, ?)", packages)
        con.executemany("INSERT INTO scans VALUES (?, ?, ?, ?, ?)",
                        [(e.scan_id, e.package_id, e.depot_id, e.scanned_at, e.kind) for e in events])
        con.executescript("""
            CREATE INDEX packages_route ON packages(route_id);
            CREATE INDEX scans_package_time ON scans(package_id, scanned_at);
            CREATE INDEX scans_time ON scans(scanned_at);
            ANALYZE;
        """)
        con.commit()
    finally:
        con.close()


def build_projection(path: Path, routes: Sequence[tuple[int, int, str]], events: Sequence[ScanEvent],
                     depots: int = 12) -> None:
    """The read model, fed one event at a time by upserts (what a projector does), then analysed."""
    region = {r: _REGIONS[d % len(_REGIONS)] for r, d, _ in routes}
    con = sqlite3.connect(path)
    try:
        con.executescript("""
            CREATE TABLE route_daily (route_id INTEGER NOT NULL, day INTEGER NOT NULL, region TEXT NOT NULL,
                                      scans INTEGER NOT NULL, PRIMARY KEY (route_id, day)) WITHOUT ROWID;
            CREATE TABLE package_latest (package_id INTEGER PRIMARY KEY, route_id INTEGER NOT NULL,
                                         depot_id INTEGER NOT NULL, scanned_at INTEGER NOT NULL,
                                         kind TEXT NOT NULL);
        """)
        daily = ("INSERT INTO route_daily VALUES (?, ?, ?, 1) "
                 "ON CONFLICT (route_id, day) DO UPDATE SET scans = scans + 1")
        latest = ("INSERT INTO package_latest VALUES (?, ?, ?, ?, ?) ON CONFLICT (package_id) DO UPDATE SET "
                  "depot_id = excluded.depot_id, scanned_at = excluded.scanned_at, kind = excluded.kind "
                  "WHERE excluded.scanned_at >= package_latest.scanned_at")
        for e in events:
            con.execute(daily, (e.route_id, e.scanned_at // DAY_S, region[e.route_id]))
            con.execute(latest, (e.package_id, e.route_id, e.depot_id, e.scanned_at, e.kind))
        con.execute("CREATE INDEX route_daily_day ON route_daily(day)")
        con.execute("ANALYZE")
        con.commit()
    finally:
        con.close()


def _queries(events: Sequence[ScanEvent], package: int, route: int) -> dict[str, tuple[tuple[str, tuple],
                                                                                        tuple[str, tuple]]]:
    """Each shape as (write-store SQL and args, projection SQL and args): the same question twice."""
    last_day = events[-1].scanned_at // DAY_S
    lo, hi = (last_day - 6) * DAY_S, (last_day + 1) * DAY_S
    return {
        "daily_counts": (
            ("SELECT p.route_id, s.scanned_at / 86400 AS day, COUNT(*) FROM scans s "
             "JOIN packages p ON p.id = s.package_id WHERE s.scanned_at >= ? AND s.scanned_at < ? "
             "GROUP BY p.route_id, day ORDER BY p.route_id, day", (lo, hi)),
            ("SELECT route_id, day, scans FROM route_daily WHERE day >= ? AND day < ? ORDER BY route_id, day",
             (lo // DAY_S, hi // DAY_S))),
        "top_routes": (
            ("SELECT r.id, d.region, COUNT(*) AS n FROM scans s JOIN packages p ON p.id = s.package_id "
             "JOIN routes r ON r.id = p.route_id JOIN depots d ON d.id = r.depot_id "
             "WHERE s.scanned_at >= ? AND s.scanned_at < ? GROUP BY r.id, d.region "
             "ORDER BY n DESC, r.id LIMIT 10", (lo, hi)),
            ("SELECT route_id, region, SUM(scans) AS n FROM route_daily WHERE day >= ? AND day < ? "
             "GROUP BY route_id, region ORDER BY n DESC, route_id LIMIT 10", (lo // DAY_S, hi // DAY_S))),
        "route_history": (
            ("SELECT s.scanned_at / 86400 AS day, COUNT(*) FROM packages p JOIN scans s ON s.package_id = p.id "
             "WHERE p.route_id = ? GROUP BY day ORDER BY day", (route,)),
            ("SELECT day, scans FROM route_daily WHERE route_id = ? ORDER BY day", (route,))),
        "package_lookup": (
            ("SELECT s.package_id, p.route_id, s.depot_id, s.scanned_at, s.kind FROM scans s "
             "JOIN packages p ON p.id = s.package_id WHERE s.package_id = ? "
             "ORDER BY s.scanned_at DESC, s.id DESC LIMIT 1", (package,)),
            ("SELECT package_id, route_id, depot_id, scanned_at, kind FROM package_latest WHERE package_id = ?",
             (package,))),
    }


def _time(con: sqlite3.Connection, sql: str, args: tuple) -> tuple[float, list]:
    start = time.perf_counter()
    rows = con.execute(sql, args).fetchall()
    return (time.perf_counter() - start) * 1000.0, rows


def run_analytics_comparison(sizes: Sequence[int] = (10_000, 50_000), *, repeats: int = 7, seed: int = 0,
                             shapes: Sequence[str] = QUERY_SHAPES,
                             progress: Callable[[str], None] | None = None) -> list[AnalyticsTiming]:
    """Build both stores for each size in a temp directory, time every shape on both, return one row each.

    Raises ValueError if a shape answers differently on the two stores (the projection is wrong).
    The temporary directory and both files are always removed.
    """
    if not sizes:
        raise ValueError("sizes=() must name at least one data size (scans)")
    sizes = [count("sizes", s) for s in sizes]
    repeats = count("repeats", repeats, high=1000)
    for shape in shapes:
        if shape not in QUERY_SHAPES:
            raise ValueError(f"shapes={shape!r} must be one of the query shapes; allowed: {', '.join(QUERY_SHAPES)}")
    out: list[AnalyticsTiming] = []
    with tempfile.TemporaryDirectory(prefix="consistency-lab-analytics-") as tmp:
        for size in sizes:
            routes, packages, events = scan_events(size, seed=seed)
            write_path, read_path = Path(tmp) / f"write-{size}.db", Path(tmp) / f"read-{size}.db"
            build_write_store(write_path, routes, packages, events)
            build_projection(read_path, routes, events)
            if progress is not None:
                progress(f"built {size:,} scans")
            busiest = max(range(len(routes)), key=lambda r: sum(1 for p in packages if p[1] == r))
            queries = _queries(events, package=events[len(events) // 2].package_id, route=busiest)
            write, read = sqlite3.connect(write_path), sqlite3.connect(read_path)
            try:
                for shape in shapes:
                    (wsql, wargs), (rsql, rargs) = queries[shape]
                    _, expected = _time(write, wsql, wargs)  # warm the page cache on both sides first
                    _, answer = _time(read, rsql, rargs)
                    if [tuple(r) for r in expected] != [tuple(r) for r in answer]:
                        raise ValueError(f"shape={shape!r} must answer the same on both stores; the projection "
                                         f"gave {answer[:3]}... against {expected[:3]}...")
                    wt, rt = [], []
                    for _ in range(repeats):  # alternate, so both sides see the same machine noise
                        wt.append(_time(write, wsql, wargs)[0])
                        rt.append(_time(read, rsql, rargs)[0])
                    out.append(AnalyticsTiming(size, shape, min(wt), statistics.median(wt), min(rt),
                                               statistics.median(rt), len(expected)))
            finally:
                write.close()
                read.close()
    return out


def store_answers(path_write: Path, path_read: Path, events: Sequence[ScanEvent], package: int,
                  route: int) -> dict[str, tuple[list[Any], list[Any]]]:
    """Every shape's answer on both stores, untimed: shape -> (write-store rows, projection rows)."""
    out = {}
    write, read = sqlite3.connect(path_write), sqlite3.connect(path_read)
    try:
        for shape, ((wsql, wargs), (rsql, rargs)) in _queries(events, package, route).items():
            out[shape] = (write.execute(wsql, wargs).fetchall(), read.execute(rsql, rargs).fetchall())
    finally:
        write.close()
        read.close()
    return out
