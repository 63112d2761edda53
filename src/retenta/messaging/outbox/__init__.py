"""The send path every channel goes through: the ledger, the dispatcher, the send API."""
