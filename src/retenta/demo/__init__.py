"""The demo store: a seeded, scalable, believable shop and its live trickle."""
