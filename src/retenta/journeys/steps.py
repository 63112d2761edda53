"""What the pure engine reads (a run, the contact's facts) and writes (a step: where the run
is now, the sends and side effects to make, and why) — plain data, no I/O."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

FAILED = frozenset({"failed", "bounced", "suppressed", "complained", "unsubscribed"})


@dataclass(frozen=True, slots=True)
class MessageState:
    """A send of this run as the ledger and its message events tell it."""

    status: str  # the ledger's: queued | sending | sent | delivered | failed | ...
    handed_at: datetime | None  # first handed to the provider (the ``sent`` event)
    events: frozenset[str] = frozenset()  # message event statuses seen: delivered, opened…
    error: str | None = None  # the ledger's last error (why it failed or was held back)

    def reached(self, status: str) -> bool:
        """Delivered, opened or clicked (a click implies an open, an open a delivery).

        >>> MessageState("sent", None, frozenset({"clicked"})).reached("delivered")
        True
        >>> MessageState("sent", None, frozenset({"delivered"})).reached("opened")
        False
        """
        ladder = ("delivered", "opened", "clicked")
        seen = set(self.events) | ({self.status} & set(ladder))
        return any(s in seen for s in ladder[ladder.index(status) :])

    @property
    def failed(self) -> bool:
        return self.status in FAILED


class Facts(Protocol):
    """What nodes may ask about the contact (answered from storage by the runner)."""

    def event_since(self, event: str, since: datetime | None) -> bool: ...

    def event_matching(self, event: str, where: Sequence[Any], since: datetime | None
                       ) -> bool: ...  # fmt: skip

    def attribute(self, name: str) -> Any: ...

    def in_segment(self, segment_id: str) -> bool: ...

    def message(self, send_id: str) -> MessageState | None: ...

    def can_receive(self, channel: str, category: str, topic: str | None
                    ) -> tuple[bool, str]: ...  # fmt: skip

    def timezone(self) -> str: ...

    def best_hour(self) -> int: ...

    def contact(self) -> Mapping[str, Any]: ...


@dataclass(frozen=True, slots=True)
class Run:
    run_id: str
    contact_id: int
    node_id: str
    node_entered_at: datetime
    entered_at: datetime
    context: Mapping[str, Any] = field(default_factory=dict)  # the trigger's event


@dataclass(frozen=True, slots=True)
class SendAction:
    node_id: str
    send_id: str
    message_id: str
    cascade: tuple[str, ...]
    category: str
    topic: str | None = None


@dataclass(frozen=True, slots=True)
class Effect:
    """A side effect other than a send, done once per (run, node) by ``effects.py``.

    ``kind``: ``update_contact`` (spec ``set``/``unset``), ``list`` (``action``, ``kind``,
    ``name``), ``webhook`` (``url``, ``method``, ``headers``, ``body``), ``goal`` (``goal``).
    """

    node_id: str
    effect_id: str
    kind: str
    spec: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class TraceEntry:
    node_id: str
    decision: str  # sent | waiting | waited | branch | exit | converted | skipped | updated…
    reason: str


@dataclass
class Step:
    """Where the run is now and what to do: ``wake_at``/``waiting_for`` while it waits."""

    node_id: str
    node_entered_at: datetime
    finished: bool = False
    wake_at: datetime | None = None
    waiting_for: str | None = None
    sends: list[SendAction] = field(default_factory=list)
    effects: list[Effect] = field(default_factory=list)
    trace: list[TraceEntry] = field(default_factory=list)

    def note(self, node_id: str, decision: str, reason: str) -> None:
        self.trace.append(TraceEntry(node_id, decision, reason))


def send_id_for(run_id: str, node_id: str) -> str:
    """The one send id of a node in a run (``snd_`` + 32 hex: fits a VERP address).

    >>> send_id_for("run_1", "a") == send_id_for("run_1", "a") != send_id_for("run_1", "b")
    True
    """
    return "snd_j" + hashlib.sha256(f"{run_id}\x1f{node_id}".encode()).hexdigest()[:31]


def cascade_send_id(run_id: str, node_id: str, index: int) -> str:
    """The send of a cascade's ``index``-th channel in a run.

    >>> cascade_send_id("r", "c", 0) != cascade_send_id("r", "c", 1) != send_id_for("r", "c")
    True
    """
    return send_id_for(run_id, f"{node_id}\x1e{index}")


def marker(goal: str, send_id: str) -> str:
    """What a run waiting for ``send_id`` to be ``goal`` (delivered / opened) waits for: a
    report of it wakes the run (``reports.py``).

    >>> marker("delivered", "snd_jab")
    'report:delivered:snd_jab'
    """
    return f"report:{goal}:{send_id}"
