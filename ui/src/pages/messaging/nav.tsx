// The messaging room's sub-navigation: messages, blocks, delivery log, suppressions, channels.
import { Link, useLocation } from "../../router";

const SUBNAV = [
  { to: "/messages", label: "Messages" },
  { to: "/messages/blocks", label: "Block library" },
  { to: "/messages/log", label: "Delivery log" },
  { to: "/messages/suppressions", label: "Suppression list" },
  { to: "/messages/channels", label: "Channels" },
];

function on(path: string, to: string): boolean {
  return to === "/messages" ? path === to : path === to || path.startsWith(`${to}/`);
}

export function MessagingNav() {
  const { path } = useLocation();
  return (
    <nav className="subnav" aria-label="Messaging">
      {SUBNAV.map((n) => (
        <Link key={n.to} to={n.to} className={on(path, n.to) ? "on" : undefined} aria-current={on(path, n.to) ? "page" : undefined}>
          {n.label}
        </Link>
      ))}
    </nav>
  );
}
