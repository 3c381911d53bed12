"""The event web socket: committed threads and posts pushed to subscribers, in commit order.

Each subscriber has a bounded queue. Publishing never waits: a subscriber
whose queue is full is dropped and told the sequence number to resume from,
so a slow or dead client can never hold up posting.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field

from conversations.models import Event


class SubscriberDropped(Exception):
    """The subscriber fell too far behind; it should reconnect with ``?since=<last seq it saw>``."""


@dataclass(eq=False)
class Subscription:
    queue: asyncio.Queue[tuple[int, str]]
    dropped: bool = False
    delivered: int = field(default=0)

    async def next(self) -> tuple[int, str]:
        """The next (seq, JSON text); raises SubscriberDropped once the backlog before the drop is drained."""
        if self.dropped and self.queue.empty():
            raise SubscriberDropped()
        item = await self.queue.get()
        self.delivered += 1
        return item

    def ready(self) -> list[tuple[int, str]]:
        """Every (seq, JSON text) queued now, without waiting: a busy subscriber is served in runs, not one wait
        per event."""
        items = []
        while not self.queue.empty():
            items.append(self.queue.get_nowait())
        self.delivered += len(items)
        return items


class EventHub:
    """Fans committed events out to web-socket subscribers without ever blocking the writer."""

    def __init__(self, queue_size: int) -> None:
        self._queue_size = queue_size
        self._subscribers: set[Subscription] = set()
        self.published = 0
        self.dropped = 0

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    def subscribe(self) -> Subscription:
        subscription = Subscription(asyncio.Queue(self._queue_size))
        self._subscribers.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self._subscribers.discard(subscription)

    def publish(self, event: Event) -> None:
        text = json.dumps(event.public())  # serialised once, shared by every subscriber
        self.published += 1
        for subscription in list(self._subscribers):
            try:
                subscription.queue.put_nowait((event.seq, text))
            except asyncio.QueueFull:
                subscription.dropped = True
                self._subscribers.discard(subscription)
                self.dropped += 1
