"""The contact profile: lookup, timeline, consent, erase, export."""
