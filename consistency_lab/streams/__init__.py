"""Event streams: an event log with partitions and offsets, consumer groups, lineage and lag metrics.

These are the moving parts of the eventual world, simulated on the course kernel:
services append events to an :class:`EventLog`, a :class:`ConsumerGroup` feeds them
at least once to an :class:`EventHandler`, a :class:`Lineage` follows each event
across services, and :mod:`~consistency_lab.streams.monitors` measures lag and backlog.
"""

from .consumer import Consumer, ConsumerGroup, DeadLetter, EventHandler, SimulatedCrash
from .lineage import STEPS, Journey, Lineage, LineageStep
from .log import Event, EventLog, PartitionLog, Producer, Record, Topic, partition_for
from .monitors import LagMonitor, LagSample, SeriesMonitor, consumer_lag_summary, stream_metrics

__all__ = [
    "Event", "EventLog", "PartitionLog", "Producer", "Record", "Topic", "partition_for",
    "Consumer", "ConsumerGroup", "DeadLetter", "EventHandler", "SimulatedCrash",
    "Lineage", "LineageStep", "Journey", "STEPS",
    "LagMonitor", "LagSample", "SeriesMonitor", "consumer_lag_summary", "stream_metrics",
]
