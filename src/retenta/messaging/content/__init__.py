"""Message content: the versioned block library, messages built from blocks, and
``ContentService.resolve`` → :class:`ResolvedContent` for the senders.

See docs/messaging-content.md.
"""

from retenta.messaging.content.compiled import ContentError, RenderedText, ResolvedContent
from retenta.messaging.content.service import ContentService, for_database

__all__ = ["ContentError", "ContentService", "RenderedText", "ResolvedContent", "for_database"]
