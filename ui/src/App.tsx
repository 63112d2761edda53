import { lazy, Suspense, useCallback, useEffect, useMemo, useState } from "react";
import { api, setUnauthorizedHandler, type Me } from "./api";
import { AuthContext, type Auth } from "./auth";
import { Layout } from "./components/Layout";
import { Spinner } from "./components/ui";
import { ContactPage } from "./pages/ContactPage";
import { ContactsPage } from "./pages/ContactsPage";
import { DeadLettersPage } from "./pages/DeadLettersPage";
import { ImportsPage } from "./pages/ImportsPage";
import { LoginPage } from "./pages/LoginPage";
import { NotFoundPage } from "./pages/NotFoundPage";
import { SettingsPage } from "./pages/SettingsPage";
import { match, navigate, useLocation } from "./router";

// The dashboard carries ECharts; loading it on demand keeps the log-in page light.
const DashboardPage = lazy(() => import("./pages/DashboardPage").then((m) => ({ default: m.DashboardPage })));
const MessagingRoom = lazy(() => import("./pages/messaging/MessagingRoom").then((m) => ({ default: m.MessagingRoom })));
const CampaignsRoom = lazy(() => import("./pages/campaigns/CampaignsRoom").then((m) => ({ default: m.CampaignsRoom })));
const JourneysRoom = lazy(() => import("./pages/journeys/JourneysRoom").then((m) => ({ default: m.JourneysRoom })));
const SegmentsRoom = lazy(() => import("./pages/segments/SegmentsRoom").then((m) => ({ default: m.SegmentsRoom })));

function Room({ path }: { path: string }) {
  if (path === "/") return <DashboardPage />;
  if (path === "/contacts") return <ContactsPage />;
  const contact = match("/contacts/:id", path);
  if (contact) return <ContactPage id={contact.id!} />;
  if (path === "/imports") return <ImportsPage />;
  if (path === "/dead-letters") return <DeadLettersPage />;
  const job = match("/imports/:id", path);
  if (job) return <ImportsPage jobId={job.id} />;
  if (path === "/segments" || path.startsWith("/segments/")) return <SegmentsRoom path={path} />;
  if (path === "/messages" || path.startsWith("/messages/")) return <MessagingRoom path={path} />;
  if (path === "/campaigns" || path.startsWith("/campaigns/")) return <CampaignsRoom path={path} />;
  if (path === "/journeys" || path.startsWith("/journeys/") || path === "/policy") return <JourneysRoom path={path} />;
  if (path === "/settings") return <SettingsPage />;
  return <NotFoundPage />;
}

/** `/login?next=/contacts` for the page the visitor wanted. */
function loginUrl(): string {
  const here = window.location.pathname + window.location.search;
  return here === "/" || here.startsWith("/login") ? "/login" : `/login?next=${encodeURIComponent(here)}`;
}

export function App() {
  const { path, search } = useLocation();
  const [me, setMe] = useState<Me | null | undefined>(undefined);

  useEffect(() => {
    api.probe<Me>("/api/v1/auth/me").then(setMe, () => setMe(null));
  }, []);
  useEffect(() => {
    setUnauthorizedHandler(() => {
      setMe(null);
      navigate(loginUrl(), true);
    });
  }, []);
  useEffect(() => {
    if (me === null && path !== "/login") navigate(loginUrl(), true);
    if (me && path === "/login") navigate(search.get("next") || "/", true);
  }, [me, path, search]);

  const logout = useCallback(async () => {
    await api.post("/api/v1/auth/logout").catch(() => undefined);
    setMe(null);
    navigate("/login", true);
  }, []);
  const auth: Auth | null = useMemo(() => (me ? { me, logout } : null), [me, logout]);

  if (me === undefined) return <div className="boot"><Spinner /></div>;
  if (!auth) return path === "/login" ? <LoginPage onLogin={setMe} /> : null;
  return (
    <AuthContext.Provider value={auth}>
      <Layout path={path}>
        <Suspense fallback={<Spinner />}>
          <Room path={path} />
        </Suspense>
      </Layout>
    </AuthContext.Provider>
  );
}
