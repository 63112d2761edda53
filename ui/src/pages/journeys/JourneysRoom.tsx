// Every /journeys… page (and /policy), loaded together on demand: React Flow stays out of
// the other rooms' bundles.
import { match } from "../../router";
import { NotFoundPage } from "../NotFoundPage";
import { PolicyPage } from "../policy/PolicyPage";
import { JourneyEditorPage } from "./JourneyEditorPage";
import { JourneysPage } from "./JourneysPage";
import { TemplatesPage } from "./TemplatesPage";

export function JourneysRoom({ path }: { path: string }) {
  if (path === "/journeys") return <JourneysPage />;
  if (path === "/journeys/new") return <JourneyEditorPage />;
  if (path === "/journeys/templates") return <TemplatesPage />;
  if (path === "/policy") return <PolicyPage />;
  const journey = match("/journeys/:id", path);
  if (journey) return <JourneyEditorPage id={journey.id!} />;
  return <NotFoundPage />;
}
