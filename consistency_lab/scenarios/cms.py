"""A content management system: every edit under locks, or eventual drafts with one strong publish step.

``editors`` people edit a site of ``pages`` pages for ``duration_ms``.  Each editor
works in a loop: pick a page (uniformly), save ``edits_per_publish`` edits to it,
one every ``think_ms`` on average (exponential), then publish it; pick the next page.

* ``mode="locked"``: every save is a strongly consistent transaction that makes the
  change live at once.  It takes an exclusive lock on its page and on the ``site``
  row (the live version of the site: navigation, sitemap and caches are rebuilt
  from it, so two saves must not interleave) through
  :class:`~consistency_lab.patterns.locks.LockManager`, holds both for ``save_ms``,
  and releases them.  An editor waits for the save before going on.  A lock request
  still waiting after ``lock_timeout_ms`` fails its save (the editor sees "could not save").
  Publishing is then nothing more: each save was already live.
* ``mode="drafts"``: a save goes to the editor's own draft of the page (memory of
  their browser session and a draft row nobody else writes): ``draft_ms``, no lock.
  Publishing is the one strong step: it takes the exclusive ``site`` lock (one
  publish at a time, so never two versions live), checks the page's live version
  against the one the draft started from, holds the lock ``save_ms`` and bumps
  the version.  When another editor published the same page in between, that is a
  **publish conflict**: counted, and resolved by merging the draft onto the newer
  version inside the same publish, never by last-writer-wins, which would silently
  drop the other editor's published change.  The merge itself is not simulated (it
  is modelled as always succeeding within the publish's ``save_ms``): merging text
  is chapter 04's subject; here what matters is how often it is needed.

Metrics: save lock wait p50/p99 (zero in drafts mode), save latency, publish lock
wait, publish conflicts, failed saves, saves and publishes done, and
``max_live_writers``: the most transactions changing the live site at once
(always 1: the site lock is exclusive in both modes).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..latency import Exponential
from ..metrics import latency_summary
from ..patterns.locks import EXCLUSIVE, LockManager
from ..sim import Simulation
from . import register_scenario
from .base import EVENT_BUDGET, Param, RunResult, Scenario, stop_note

__all__ = ["CmsResult", "CMS", "MODES", "SITE"]

MODES = ("locked", "drafts")
#: The lock key of the live site's version row.
SITE = "site"

PARAMS = (
    Param("mode", str, "locked", "every save a locked live transaction, or drafts with a strong publish",
          choices=MODES),
    Param("editors", int, 8, "people editing at the same time", low=1, high=200),
    Param("pages", int, 20, "pages on the site", low=1, high=10_000),
    Param("duration_ms", float, 60_000.0, "how long the editors work (ms)", low=1.0, high=3_600_000.0),
    Param("think_ms", float, 3_000.0, "mean time an editor spends between two saves (ms, exponential)",
          low=1.0, high=600_000.0),
    Param("edits_per_publish", int, 4, "saves an editor makes to a page before publishing it", low=1, high=1_000),
    Param("save_ms", float, 250.0, "time one live transaction holds its locks (ms): write, rebuild, publish",
          low=0.1, high=60_000.0),
    Param("draft_ms", float, 5.0, "time to save into one's own draft (ms)", low=0.0, high=60_000.0),
    Param("lock_timeout_ms", float, 10_000.0, "a lock request waiting longer fails its save or publish (ms)",
          low=1.0, high=600_000.0),
)


@dataclass
class CmsResult(RunResult):
    """A CMS run: metrics plus every save's and publish's (start ms, lock wait ms, outcome)."""

    saves: list[tuple[float, float, str]] = field(default_factory=list)
    publishes: list[tuple[float, float, str]] = field(default_factory=list)


class _Editor:
    """One editor's loop: think, save (locked or draft), publish after every ``edits_per_publish`` saves."""

    def __init__(self, name: str, sim: Simulation, locks: LockManager, site: "_Site", p: dict) -> None:
        self.name, self.sim, self.locks, self.site, self.p = name, sim, locks, site, p
        self.rng = sim.rng(f"editor/{name}")
        self.think = Exponential(1.0 / p["think_ms"])
        self.page = 0
        self.base_version = 0
        self.saved = 0

    def start(self) -> None:
        """Pick the first page and think before the first save."""
        self._new_page()
        self._after_think()

    def _new_page(self) -> None:
        self.page = self.rng.randrange(self.p["pages"])
        self.base_version = self.site.version[self.page]
        self.saved = 0

    def _after_think(self) -> None:
        delay = self.think.sample(self.rng)
        if self.sim.now + delay < self.p["duration_ms"]:
            self.sim.schedule(delay, self._save)

    def _save(self) -> None:
        if self.p["mode"] == "drafts":
            self.site.saves.append((self.sim.now, 0.0, "ok"))
            self.sim.schedule(self.p["draft_ms"], self._saved)
        else:
            self._transaction([self.page, SITE], self.site.saves, self._saved)

    def _saved(self) -> None:
        self.saved += 1
        if self.p["mode"] == "drafts" and self.saved >= self.p["edits_per_publish"]:
            self._transaction([SITE], self.site.publishes, self._published)
            return
        if self.p["mode"] == "locked" and self.saved >= self.p["edits_per_publish"]:
            self._new_page()  # each save was already live: nothing left to publish
        self._after_think()

    def _published(self) -> None:
        self._new_page()
        self._after_think()

    def _transaction(self, keys: list, log: list, then: Any) -> None:
        """Take every key exclusively in order, hold them ``save_ms``, release; ``then()`` after, also on failure."""
        txn = self.sim.next_id()
        started = self.sim.now
        self.locks.begin(txn)
        self.site.owners[txn] = (self, log, started, then)

        def take(i: int) -> None:
            while i < len(keys):
                if not self.locks.acquire(txn, keys[i], EXCLUSIVE, lambda i=i: take(i + 1)):
                    return
                i += 1
            log.append((started, self.sim.now - started, "ok"))
            self.site.enter(self.page, self.base_version, keys)
            self.sim.schedule(self.p["save_ms"], finish)

        def finish() -> None:
            self.site.leave(self.page, keys)
            self.locks.release_all(txn)
            del self.site.owners[txn]
            then()

        take(0)


class _Site:
    """The live site: page versions, who is changing it now, and every save's and publish's record."""

    def __init__(self, pages: int) -> None:
        self.version = [0] * pages
        self.live_writers = 0
        self.max_live_writers = 0
        self.conflicts = 0
        self.saves: list[tuple[float, float, str]] = []
        self.publishes: list[tuple[float, float, str]] = []
        self.owners: dict[int, tuple] = {}

    def enter(self, page: int, base_version: int, keys: list) -> None:
        """A transaction holding the site lock starts changing the live site."""
        self.live_writers += 1
        self.max_live_writers = max(self.max_live_writers, self.live_writers)
        if keys == [SITE] and self.version[page] != base_version:
            self.conflicts += 1  # a publish whose draft started from an older live version: merged

    def leave(self, page: int, keys: list) -> None:
        """The change is live: one new version of the page."""
        self.live_writers -= 1
        self.version[page] += 1


def _run_cms(seed: int, p: dict, hooks: dict) -> CmsResult:
    """Run the editors in the chosen mode and measure lock waits, conflicts and throughput.

    Called by ``CMS.run(seed, **params)`` with validated parameters.
    """
    sim = Simulation(seed, max_events=EVENT_BUDGET)
    site = _Site(p["pages"])

    def aborted(txn: int, reason: str) -> None:
        _editor, log, started, then = site.owners.pop(txn)
        log.append((started, sim.now - started, reason))
        locks.release_all(txn)
        then()  # the editor gives up on this save (or publish) and goes on

    locks = LockManager(sim, timeout_ms=p["lock_timeout_ms"], on_abort=aborted)
    editors = [_Editor(f"e{i}", sim, locks, site, p) for i in range(p["editors"])]
    for e in editors:
        e.start()
    # After the last save starts (before duration_ms), each editor is in at most one queue: all
    # of them ahead of it finish within lock_timeout_ms, then its save and one publish follow.
    bound = p["duration_ms"] + 2 * (p["lock_timeout_ms"] + p["save_ms"]) + p["draft_ms"] + 1.0
    reason = sim.run_bounded(bound)
    unfinished = len(site.owners)
    saves, publishes = site.saves, site.publishes
    ok_saves = [w for _t, w, outcome in saves if outcome == "ok"]
    ok_pubs = [w for _t, w, outcome in publishes if outcome == "ok"]
    save_ms = 0.0 if p["mode"] == "drafts" else p["save_ms"]
    metrics: dict[str, Any] = {
        "saves": len(ok_saves),
        "failed_saves": len(saves) - len(ok_saves),
        "publishes": len(ok_pubs) if p["mode"] == "drafts" else len(ok_saves),
        "failed_publishes": len(publishes) - len(ok_pubs),
        "publish_conflicts": site.conflicts,
        "max_live_writers": site.max_live_writers,
        "saves_per_editor_per_min": len(ok_saves) / p["editors"] / (p["duration_ms"] / 60_000.0),
    }
    metrics.update(latency_summary(ok_saves, "save_wait"))
    metrics.update(latency_summary([w + save_ms for w in ok_saves], "save_latency"))
    metrics.update(latency_summary(ok_pubs, "publish_wait"))
    return CmsResult(scenario="cms", seed=seed, params=dict(p), metrics=metrics, trace_digest=sim.trace_digest(),
                     saves=list(saves), publishes=list(publishes),
                     stopped=stop_note(reason, bound, f"{unfinished} transactions") if unfinished else "")


CMS = register_scenario(Scenario(
    name="cms",
    summary="a CMS where every edit locks the live site, against eventual drafts with one strong publish",
    params=PARAMS,
    runner=_run_cms,
    # Saves one run may attempt: each editor saves at most once per think time on average; the
    # bound is generous (x4) because think times are exponential.
    work=lambda p: (round(4 * p["editors"] * p["duration_ms"] / p["think_ms"]) + p["editors"],
                    "4 × editors × duration_ms / think_ms + editors"),
    max_work=100_000,
))
