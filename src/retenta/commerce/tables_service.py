"""The data-tables use cases: define, upsert rows (validated, linked), read, delete."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from retenta.commerce import datatables as dt
from retenta.commerce.coerce import ROW
from retenta.commerce.contact_ref import ContactResolver
from retenta.commerce.schemas import DataTableIn
from retenta.errors import ApiError, not_found
from retenta.storage.base import Database


def errors_as_422(errors: list[dict[str, Any]]) -> None:
    """Per-row problems as one 422: ``rows[3].amount: expected a number``, all listed."""
    if not errors:
        return
    details = [{"field": f"rows[{e['row']}].{e['field']}", "reason": e["reason"]} for e in errors]
    first = details[0]
    raise ApiError(
        422, "validation_error", f"{first['field']}: {first['reason']}",
        field=first["field"], details=details,
    )  # fmt: skip


class DataTables:
    def __init__(self, *, db: Database) -> None:
        self.db = db

    async def create(self, *, workspace_id: str, spec: DataTableIn) -> dict[str, Any]:
        now = datetime.now(UTC)
        created = await self.db.awrite(
            lambda c: dt.create_table(c, workspace_id, spec.model_dump(), now)
        )
        if not created:
            raise ApiError(409, "conflict", f"data table {spec.name!r} exists", field="name")
        return self.get(workspace_id=workspace_id, name=spec.name)

    def all(self, *, workspace_id: str) -> list[dict[str, Any]]:
        with self.db.read() as cur:
            return dt.list_tables(cur, workspace_id)

    def get(self, *, workspace_id: str, name: str) -> dict[str, Any]:
        with self.db.read() as cur:
            table = dt.get_table(cur, workspace_id, name)
        if table is None:
            raise not_found("data table")
        return table

    async def drop(self, *, workspace_id: str, name: str) -> dict[str, Any]:
        self.get(workspace_id=workspace_id, name=name)
        rows = await self.db.awrite(lambda c: dt.drop_table(c, workspace_id, name))
        return {"deleted": name, "rows": rows}

    async def put_rows(
        self, *, workspace_id: str, name: str, rows: list[dict[str, Any]], resolver: ContactResolver
    ) -> dict[str, Any]:
        """All rows or none: any problem is a 422 listing every row, column and reason."""
        table = self.get(workspace_id=workspace_id, name=name)
        links, link_errors = self.resolve_links(workspace_id, table["link"], rows, resolver)
        now = datetime.now(UTC)

        def work(conn: Any) -> int:
            staged, _, errors = dt.coerce_rows(conn, table, rows)
            errors_as_422(sorted(errors + link_errors, key=lambda e: (e["row"], e["field"])))
            linked = [{**r, **links[r[ROW]]} for r in staged.to_pylist()]
            return dt.write_rows(conn, workspace_id, name, linked, now)

        return {"upserted": await self.db.awrite(work)}

    def resolve_links(
        self, workspace_id: str, link: str, rows: list[dict[str, Any]], resolver: ContactResolver
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """``{"contact_id", "sku"}`` per row, and the rows whose link is missing or unknown."""
        links: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        for i, row in enumerate(rows):
            found, error = link_of(workspace_id, link, row, resolver)
            links.append(found)
            if error is not None:
                errors.append({"row": i, **error})
        return links, errors

    async def delete_rows(
        self, *, workspace_id: str, name: str, keys: list[dict[str, Any]]
    ) -> dict[str, Any]:
        table = self.get(workspace_id=workspace_id, name=name)
        spec = {
            **table,
            "columns": [c for c in table["columns"] if c["name"] in table["key_columns"]],
        }

        def work(conn: Any) -> int:
            staged, _, errors = dt.coerce_rows(conn, spec, keys)
            errors_as_422([{**e, "row": e["row"]} for e in errors])
            return dt.delete_rows(conn, workspace_id, name, staged["row_key"].to_pylist())

        return {"deleted": await self.db.awrite(work)}

    def rows(
        self,
        *,
        workspace_id: str,
        name: str,
        contact_ids: list[int] | None,
        sku: str | None,
        limit: int,
        cursor: str | None,
    ) -> dict[str, Any]:
        self.get(workspace_id=workspace_id, name=name)
        with self.db.read() as cur:
            items, nxt = dt.read_rows(
                cur,
                workspace_id,
                name,
                contact_ids=contact_ids,
                sku=sku,
                limit=limit,
                cursor=cursor,
            )
        return {"items": items, "next_cursor": nxt}


def link_of(
    workspace_id: str, link: str, row: dict[str, Any], resolver: ContactResolver
) -> tuple[dict[str, Any], dict[str, str] | None]:
    """The row's contact or product, or the error that says why it has none."""
    if link == "none":
        given = [k for k in dt.LINK_FIELDS if k in row]
        error = {"field": given[0], "reason": "this table links to nothing"} if given else None
        return {"contact_id": None, "sku": None}, error
    if link == "product":
        sku = dt.scalar_text(row["sku"]) if isinstance(row.get("sku"), str | int) else None
        if not sku or not sku.strip():
            return {"contact_id": None, "sku": None}, {"field": "sku", "reason": "required"}
        return {"contact_id": None, "sku": sku.strip()}, None
    return contact_link(workspace_id, row, resolver)


def contact_link(
    workspace_id: str, row: dict[str, Any], resolver: ContactResolver
) -> tuple[dict[str, Any], dict[str, str] | None]:
    none: dict[str, Any] = {"contact_id": None, "sku": None}
    contact_id, identifiers = row.get("contact_id"), row.get("identifiers")
    if isinstance(contact_id, int) and not isinstance(contact_id, bool):
        try:
            return {
                **none,
                "contact_id": resolver.by_id(workspace_id, contact_id, field="contact_id"),
            }, None
        except ApiError:
            return none, {"field": "contact_id", "reason": "no such contact"}
    if isinstance(identifiers, dict):
        given = [(k, str(v)) for k, v in identifiers.items() if k in dt.IDENTIFIER_TYPES and v]
        found = resolver.find(workspace_id, given) if given else None
        if found is None:
            return none, {"field": "identifiers", "reason": "no contact with these identifiers"}
        return {**none, "contact_id": found}, None
    return none, {"field": "contact_id", "reason": "contact_id or identifiers required"}
