import { Link } from "../router";

export function NotFoundPage() {
  return (
    <div className="page">
      <h1>Page not found</h1>
      <p className="muted">
        There is nothing at this address. <Link to="/">Back to the dashboard</Link>.
      </p>
    </div>
  );
}
