"""Instantiate a ready scenario: its segments and messages, then its journey (a draft).

The journey document is built and validated with stand-in ids before anything is stored,
so a bad parameter leaves nothing behind; then the segments (through the segments
service), the messages (through the content service, in four languages, with the shared
product-cards block) and the journey (through the journey store) are made in that order.
If a later step fails, the segments and messages already made are removed again.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from retenta.journeys.definition import parse
from retenta.journeys.scenarios.catalogue import TEMPLATES, template
from retenta.journeys.scenarios.content import ensure_blocks, message_in
from retenta.journeys.scenarios.model import Prebuilt, Template
from retenta.journeys.service import for_container as journeys
from retenta.messaging.content.service import for_database

if TYPE_CHECKING:
    from retenta.app import Container
    from retenta.tenancy.service import Principal


def list_templates() -> list[dict[str, Any]]:
    return [t.summary() for t in TEMPLATES.values()]


def preview(key: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """The journey a template would make, with stand-in ids (also its validation)."""
    chosen = template(key)
    bound = chosen.bind(params)
    doc = chosen.journey(bound, _stand_ins(chosen, bound))
    parse(doc)
    return doc


async def instantiate(
    c: Container, principal: Principal, key: str, params: Mapping[str, Any], name: str | None
) -> dict[str, Any]:
    """Make the scenario's segments, messages and draft journey; all three returned."""
    chosen = template(key)
    bound = chosen.bind(params)
    check = chosen.journey(bound, _stand_ins(chosen, bound))
    parse({**check, "name": name or check["name"]})  # a DefinitionError before any write
    ws = principal.workspace_id
    segments: dict[str, str] = {}
    messages: dict[str, str] = {}
    content = for_database(c.db)
    try:
        for k, body in chosen.segments(bound).items():
            segments[k] = (await c.segments.create(principal=principal, body=body))["id"]
        blocks = await ensure_blocks(content, ws)
        for k, copy in chosen.messages(bound).items():
            messages[k] = (await content.save_message(ws, message_in(copy, blocks)))["id"]
        doc = chosen.journey(bound, Prebuilt(messages, segments))
        doc["name"] = name or doc["name"]
        made = await journeys(c).store.create(ws, doc)
    except Exception:  # a cancellation or kill can still leave them (as the docs say)
        await _undo(c, principal, segments.values(), messages.values())
        raise
    return {"journey": made, "template": key, "params": bound, "segments": segments,
            "messages": messages, "blocks": blocks}  # fmt: skip


async def _undo(c: Container, principal: Principal, segment_ids: Iterable[str],
                message_ids: Iterable[str]) -> None:  # fmt: skip
    """Remove what a failed instantiation made, so a retry does not leave duplicates behind.

    The shared blocks stay: other messages may use them, and a retry reuses them."""
    content = for_database(c.db)
    for message_id in message_ids:
        with contextlib.suppress(Exception):
            await content.delete_message(principal.workspace_id, message_id)
    for segment_id in segment_ids:
        with contextlib.suppress(Exception):
            await c.segments.delete(principal=principal, segment_id=segment_id)


def _stand_ins(chosen: Template, bound: Mapping[str, Any]) -> Prebuilt:
    return Prebuilt({k: f"msg_{k}" for k in chosen.messages(bound)},
                    {k: f"seg_{k}" for k in chosen.segments(bound)})  # fmt: skip
