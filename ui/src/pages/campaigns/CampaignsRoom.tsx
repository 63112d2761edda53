// Every /campaigns… page, loaded together on demand.
import { match } from "../../router";
import { NotFoundPage } from "../NotFoundPage";
import { CampaignPage } from "./CampaignPage";
import { CampaignsPage } from "./CampaignsPage";
import { CampaignWizard } from "./CampaignWizard";

export function CampaignsRoom({ path }: { path: string }) {
  if (path === "/campaigns") return <CampaignsPage />;
  if (path === "/campaigns/new") return <CampaignWizard />;
  const edit = match("/campaigns/:id/edit", path);
  if (edit) return <CampaignWizard id={edit.id!} />;
  const one = match("/campaigns/:id", path);
  if (one) return <CampaignPage id={one.id!} />;
  return <NotFoundPage />;
}
