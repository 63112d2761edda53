"""The per-thread read cursor is shared: one caller's half-read result never blocks the next."""

from __future__ import annotations

import pyarrow as pa

from retenta.app import Container


def test_a_half_read_result_does_not_block_the_next_reader(container: Container) -> None:
    with container.db.read() as cur:
        assert cur.execute("SELECT * FROM range(10)").fetchone() == (0,)
    with container.db.read() as cur:  # same thread, same cursor
        cur.register("_t_ids", pa.table({"id": [1, 2, 3]}))
        assert cur.execute("SELECT sum(id) FROM _t_ids").fetchall() == [(6,)]
        cur.unregister("_t_ids")
