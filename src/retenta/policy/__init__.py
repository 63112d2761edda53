"""One contact policy for every journey and campaign (issue #5): frequency caps, quiet
hours, fatigue — decided at send time, in the contact's own timezone, with a reason.

``rules.py`` is the workspace's policy (JSON, validated); ``decide.py`` is pure: given the
policy, a send, the contact's timezone and recent history, it answers allow, defer until a
time, or drop — naming the rule. ``store.py`` reads the policy and the history and keeps
the log of every message held back.
"""
