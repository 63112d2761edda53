import type { ReactNode } from "react";
import { useAuth } from "../auth";
import { Link } from "../router";

const NAV = [
  { to: "/", label: "Dashboard", icon: "M3 13h8V3H3v10zm0 8h8v-6H3v6zm10 0h8V11h-8v10zm0-18v6h8V3h-8z" },
  { to: "/contacts", label: "Contacts", icon: "M16 11a4 4 0 1 0-4-4 4 4 0 0 0 4 4zm-8 0a3 3 0 1 0-3-3 3 3 0 0 0 3 3zm0 2c-2.7 0-8 1.3-8 4v3h8v-3c0-1 .4-2 1.1-2.8A11 11 0 0 0 8 13zm8 0c-2.7 0-8 1.3-8 4v3h16v-3c0-2.7-5.3-4-8-4z" },
  { to: "/segments", label: "Segments", icon: "M12 2a10 10 0 1 0 10 10h-10V2zm2 0v8h8a10 10 0 0 0-8-8z" },
  { to: "/messages", label: "Messages", icon: "M20 4H4a2 2 0 0 0-2 2v12a2 2 0 0 0 2 2h16a2 2 0 0 0 2-2V6a2 2 0 0 0-2-2zm0 4-8 5-8-5V6l8 5 8-5v2z" },
  { to: "/journeys", label: "Journeys", icon: "M4 4h6v6H4V4zm10 0h6v6h-6V4zM9 17h6v4H9v-4zM7 10v3h10v-3h2v5h-6v2h-2v-2H5v-5h2z" },
  { to: "/campaigns", label: "Campaigns", icon: "M3 10v4h3l5 4V6L6 10H3zm13.5 2A4.5 4.5 0 0 0 14 8v8a4.5 4.5 0 0 0 2.5-4zM14 3.2v2.1a7 7 0 0 1 0 13.4v2.1a9 9 0 0 0 0-17.6z" },
  { to: "/imports", label: "Imports", icon: "M19 9h-4V3H9v6H5l7 7 7-7zM5 18v2h14v-2H5z" },
  { to: "/dead-letters", label: "Dead letters", icon: "M20 4H4a2 2 0 0 0-2 2v12a2 2 0 0 0 2 2h16a2 2 0 0 0 2-2V6a2 2 0 0 0-2-2zm-9 13H9v-2h2v2zm0-4H9V7h2v6zm4 0h-2V7h2v6zm0 4h-2v-2h2v2z" },
  { to: "/settings", label: "Settings", icon: "M19.4 13a7.5 7.5 0 0 0 0-2l2.1-1.6-2-3.5-2.5 1a7.3 7.3 0 0 0-1.7-1L15 3h-4l-.4 2.9a7.3 7.3 0 0 0-1.7 1l-2.5-1-2 3.5L6.6 11a7.5 7.5 0 0 0 0 2l-2.1 1.6 2 3.5 2.5-1a7.3 7.3 0 0 0 1.7 1L11 21h4l.4-2.9a7.3 7.3 0 0 0 1.7-1l2.5 1 2-3.5-2.2-1.6zM13 15.5a3.5 3.5 0 1 1 3.5-3.5 3.5 3.5 0 0 1-3.5 3.5z" },
];

function active(path: string, to: string): boolean {
  return to === "/" ? path === "/" : path === to || path.startsWith(`${to}/`);
}

export function Layout({ path, children }: { path: string; children: ReactNode }) {
  const { me, logout } = useAuth();
  return (
    <div className="shell">
      <aside className="sidebar">
        <div className="brand">
          <span className="brand-mark">R</span>
          <span>Retenta</span>
        </div>
        <nav aria-label="Main">
          {NAV.map((item) => (
            <Link key={item.to} to={item.to} className={active(path, item.to) ? "nav-item active" : "nav-item"}>
              <svg viewBox="0 0 24 24" aria-hidden="true"><path d={item.icon} /></svg>
              {item.label}
            </Link>
          ))}
        </nav>
        <div className="sidebar-foot">
          <div className="workspace-name" title={me.workspace.id}>{me.workspace.name}</div>
        </div>
      </aside>
      <div className="main">
        <header className="topbar">
          <div />
          <div className="user">
            <span className="user-email" data-testid="user-email">{me.email}</span>
            <span className={`badge badge-role`} data-testid="user-role">{me.role}</span>
            <button className="btn btn-ghost" onClick={() => void logout()}>Log out</button>
          </div>
        </header>
        <main className="content">{children}</main>
      </div>
    </div>
  );
}
