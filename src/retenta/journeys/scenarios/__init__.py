"""Ready scenarios (issue #5 item 7): parameterized journey templates that prebuild their
messages and segments. ``catalogue.TEMPLATES`` lists them; ``service.instantiate`` makes one.
See docs/scenarios.md."""
