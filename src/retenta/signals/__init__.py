"""Derived commerce signals: events no client sends, emitted per contact through ingestion.

"Price Dropped" and "Back In Stock" (a catalog change, for the contacts with the product in
an open cart or wishlist or who viewed it lately), "Replenishment Due" (an item due again
by the contact's own interval for it), "Win-back Due" (drifted past the usual interval
between purchases: seed 002's two metrics) and "Next Best Offer". See docs/scenarios.md.
"""
