"""How contacts give and manage consent: double opt-in and the preference centre.

Both live behind signed links (``Keyring`` URL tokens, one purpose each), so the link in
a contact's message is the authority and nothing else is needed to use it. Neither ever
changes anything on a GET: link scanners fetch every URL of a message, and a scanner must
not confirm a subscription or unsubscribe anybody.
"""
