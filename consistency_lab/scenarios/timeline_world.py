"""The world of the social timeline: the source of truth, the feed built from events, and the reconciler.

:class:`SocialGraph` is the social service's database (committed at once);
:class:`FeedService` is the derived read model a consumer group builds from the
``social`` topic; :class:`TimelineReconciler` is the daemon's view of both, one item
per user, with the simulation's oracle (``would_converge``) that tells a real repair
from one that only raced events already on their way.  The run that wires them to a
lossy log and a consumer group is :mod:`.timeline`.
"""

from __future__ import annotations

from typing import Any

from ..streams.log import Event

__all__ = ["Item", "SocialGraph", "FeedService", "TimelineReconciler", "divergent_timelines"]

#: One user's record: (follows, own posts, timeline).
Item = tuple[frozenset, frozenset, frozenset]


class SocialGraph:
    """The source of truth: who follows whom, who posted what, and each user's true timeline.

    It also remembers the event behind each fact, so a repair can name the events
    whose effect it restores (lineage), and when each user's record last changed.
    """

    def __init__(self, users: list[str]) -> None:
        self.users = users
        self.follows: dict[str, dict[str, str]] = {u: {} for u in users}  # followee -> Followed event id
        self.followers: dict[str, dict[str, None]] = {u: {} for u in users}
        self.posts_by: dict[str, dict[str, str]] = {u: {} for u in users}  # post -> Posted event id
        self.timelines: dict[str, set[str]] = {u: set() for u in users}
        self.unfollowed_by: dict[tuple[str, str], str] = {}  # (follower, followee) -> Unfollowed event id
        self.changed_at: dict[str, float] = {u: 0.0 for u in users}
        self.post_event: dict[str, str] = {}

    def follow(self, a: str, b: str, event_id: str, now: float) -> None:
        """``a`` starts following ``b``."""
        self.follows[a][b] = event_id
        self.followers[b][a] = None
        self.timelines[a].update(self.posts_by[b])
        self.changed_at[a] = now

    def unfollow(self, a: str, b: str, event_id: str, now: float) -> None:
        """``a`` stops following ``b``."""
        del self.follows[a][b]
        del self.followers[b][a]
        self.timelines[a].difference_update(self.posts_by[b])
        self.unfollowed_by[(a, b)] = event_id
        self.changed_at[a] = now

    def post(self, b: str, post: str, event_id: str, now: float) -> None:
        """``b`` publishes ``post``: it joins every follower's timeline."""
        self.posts_by[b][post] = event_id
        self.post_event[post] = event_id
        self.changed_at[b] = now
        for f in self.followers[b]:
            self.timelines[f].add(post)
            self.changed_at[f] = now

    def item(self, u: str) -> Item:
        """User ``u``'s record as the feed should hold it."""
        return frozenset(self.follows[u]), frozenset(self.posts_by[u]), frozenset(self.timelines[u])


class FeedService:
    """The derived side: an :class:`~consistency_lab.streams.consumer.EventHandler` building timelines.

    Its updates are set operations, so a redelivered event changes nothing; but an
    event that never arrives, or a follow and unfollow applied in the wrong order,
    leaves the feed wrong until something repairs it.
    """

    def __init__(self, users: list[str], on_handled: Any = None) -> None:
        self.follows: dict[str, set[str]] = {u: set() for u in users}
        self.followers: dict[str, set[str]] = {u: set() for u in users}
        self.posts_by: dict[str, set[str]] = {u: set() for u in users}
        self.timelines: dict[str, set[str]] = {u: set() for u in users}
        self.on_handled = on_handled

    def handle(self, event: Event) -> str:
        """Apply one follow, unfollow or post event to the feed."""
        a = event.key
        if event.type == "Followed":
            b = event.payload["followee"]
            self.follows[a].add(b)
            self.followers[b].add(a)
            self.timelines[a].update(self.posts_by[b])
        elif event.type == "Unfollowed":
            b = event.payload["followee"]
            self.follows[a].discard(b)
            self.followers[b].discard(a)
            self.timelines[a].difference_update(self.posts_by[b])
        elif event.type == "Posted":
            post = event.payload["post"]
            self.posts_by[a].add(post)
            for f in self.followers[a]:
                self.timelines[f].add(post)
        else:
            raise ValueError(f"feed cannot handle event type {event.type!r}")
        if self.on_handled is not None:
            self.on_handled(event)
        return "applied"

    def item(self, u: str) -> Item:
        """User ``u``'s record as the feed holds it now."""
        return frozenset(self.follows[u]), frozenset(self.posts_by[u]), frozenset(self.timelines[u])

    def overwrite(self, u: str, item: Item) -> None:
        """Replace user ``u``'s record (idempotent), keeping the followers index in step."""
        follows, posts, timeline = item
        for b in self.follows[u] - follows:
            self.followers[b].discard(u)
        for b in follows - self.follows[u]:
            self.followers[b].add(u)
        self.follows[u] = set(follows)
        self.posts_by[u] = set(posts)
        self.timelines[u] = set(timeline)


class TimelineReconciler:
    """The timeline daemon's :class:`~consistency_lab.patterns.reconciliation.Reconciler`: one item per user."""

    def __init__(self, social: SocialGraph, feed: FeedService, in_flight: dict[str, Event]) -> None:
        self.social = social
        self.feed = feed
        self.in_flight = in_flight

    def keys(self) -> list[str]:
        """Every user, in a fixed order."""
        return self.social.users

    def expected(self, key: str) -> Item:
        """The user's record in the source of truth."""
        return self.social.item(key)

    def actual(self, key: str) -> Item:
        """The user's record in the feed."""
        return self.feed.item(key)

    def repair(self, key: str, value: Item) -> None:
        """Overwrite the user's feed record."""
        self.feed.overwrite(key, value)

    def changed_at(self, key: str) -> float:
        """When the user's true record last changed (ms)."""
        return self.social.changed_at[key]

    def would_converge(self, key: str) -> bool:
        """Oracle: would the events in flight, replayed in production order, fix this user by themselves?"""
        feed = self.feed
        follows = set(feed.follows[key])
        posts = set(feed.posts_by[key])
        timeline = set(feed.timelines[key])
        extra: dict[str, set[str]] = {}
        for e in self.in_flight.values():
            if e.type == "Posted":
                extra.setdefault(e.key, set()).add(e.payload["post"])
                if e.key == key:
                    posts.add(e.payload["post"])
                if e.key in follows:
                    timeline.add(e.payload["post"])
            elif e.key == key:
                b = e.payload["followee"]
                known = feed.posts_by[b] | extra.get(b, set())
                if e.type == "Followed":
                    follows.add(b)
                    timeline |= known
                else:
                    follows.discard(b)
                    timeline -= known
        return (frozenset(follows), frozenset(posts), frozenset(timeline)) == self.social.item(key)

    def explain(self, key: str) -> list[str]:
        """Ids of the events whose effect a repair of this user restores (at most 10)."""
        social = self.social
        exp_follows, exp_posts, exp_timeline = social.item(key)
        follows, posts, timeline = self.feed.item(key)
        ids = []
        for b in sorted(exp_follows ^ follows):
            ids.append(social.follows[key].get(b) or social.unfollowed_by.get((key, b), ""))
        for p in sorted((exp_posts ^ posts) | (exp_timeline ^ timeline)):
            ids.append(social.post_event.get(p, ""))
        return [i for i in dict.fromkeys(ids) if i][:10]


def divergent_timelines(social: SocialGraph, feed: FeedService) -> int:
    """How many users' timelines in the feed differ from the source of truth."""
    return sum(1 for u in social.users if feed.timelines[u] != social.timelines[u])
