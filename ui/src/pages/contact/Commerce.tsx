import { api } from "../../api";
import { Badge, Empty, ErrorNote, Section, Spinner } from "../../components/ui";
import { fmtShort, fmtMoney, fmtNumber } from "../../format";
import { useLoad } from "../../hooks";

type Row = Record<string, unknown>;

/** The list inside an answer that may be a bare list or `{items|orders: [...]}`. */
function listOf(data: unknown, ...keys: string[]): Row[] {
  if (Array.isArray(data)) return data as Row[];
  if (data && typeof data === "object") {
    for (const key of keys) {
      const value = (data as Row)[key];
      if (Array.isArray(value)) return value as Row[];
    }
  }
  return [];
}

/** `GET …/cart` answers `{cart: {items, value, …} | null}`; older shapes are the cart itself. */
function cartOf(data: unknown): unknown {
  return data && typeof data === "object" && "cart" in data ? (data as Row).cart : data;
}

/** Units in an order: the sum of its lines' quantities. */
const units = (lines: Row[]) => lines.reduce((n, l) => n + (typeof l.quantity === "number" ? l.quantity : 1), 0);

const str = (v: unknown) => (v === null || v === undefined ? null : String(v));

export function Commerce({ contactId }: { contactId: string }) {
  const base = `/api/v1/contacts/${encodeURIComponent(contactId)}`;
  const orders = useLoad(() => api.get<unknown>(`${base}/orders`), [contactId]);
  const cart = useLoad(() => api.get<unknown>(`${base}/cart`), [contactId]);
  return (
    <>
      <Section title="Orders" testId="orders">
        <ErrorNote error={orders.error} />
        {orders.loading ? <Spinner /> : <Orders rows={listOf(orders.data, "items", "orders")} />}
      </Section>
      <Section title="Cart" testId="cart">
        <ErrorNote error={cart.error} />
        {cart.loading ? <Spinner /> : <Cart rows={listOf(cartOf(cart.data), "items", "lines")} />}
      </Section>
    </>
  );
}

function Orders({ rows }: { rows: Row[] }) {
  if (!rows.length) return <Empty>No orders.</Empty>;
  return (
    <table className="table compact">
      <thead><tr><th>Order</th><th>Placed</th><th>Status</th><th className="right">Items</th><th className="right">Total</th></tr></thead>
      <tbody>
        {rows.map((o, i) => (
          <tr key={str(o.order_id) ?? i}>
            <td className="mono">{str(o.order_id) ?? "—"}</td>
            <td className="nowrap">{fmtShort(str(o.placed_at ?? o.created_at))}</td>
            <td><Badge>{str(o.status) ?? "—"}</Badge></td>
            <td className="right">{fmtNumber(Array.isArray(o.items) ? units(o.items as Row[]) : o.item_count)}</td>
            <td className="right">{fmtMoney(o.total ?? o.revenue, str(o.currency))}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function Cart({ rows }: { rows: Row[] }) {
  if (!rows.length) return <Empty>The cart is empty.</Empty>;
  return (
    <table className="table compact">
      <thead><tr><th>Product</th><th>SKU</th><th className="right">Qty</th><th className="right">Price</th></tr></thead>
      <tbody>
        {rows.map((l, i) => (
          <tr key={`${str(l.sku)}:${i}`}>
            <td>{str(l.name) ?? "—"}</td>
            <td className="mono">{str(l.sku) ?? "—"}</td>
            <td className="right">{fmtNumber(l.quantity)}</td>
            <td className="right">{fmtMoney(l.price, str(l.currency))}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
