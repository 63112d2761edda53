// Every /segments… page, loaded together on demand (they share ECharts and the builder).
import { match } from "../../router";
import { NotFoundPage } from "../NotFoundPage";
import { RfmPage } from "../RfmPage";
import { SegmentEditPage } from "../SegmentEditPage";
import { SegmentFlowPage } from "../SegmentFlowPage";
import { SegmentPage } from "../SegmentPage";
import { SegmentsPage } from "../SegmentsPage";
import { SqlSegmentPage } from "../SqlSegmentPage";

export function SegmentsRoom({ path }: { path: string }) {
  if (path === "/segments") return <SegmentsPage />;
  if (path === "/segments/new") return <SegmentEditPage />;
  if (path === "/segments/sql/new") return <SqlSegmentPage />;
  if (path === "/segments/rfm") return <RfmPage />;
  if (path === "/segments/flow") return <SegmentFlowPage />;
  const edit = match("/segments/:id/edit", path);
  if (edit) return <SegmentEditPage id={edit.id!} />;
  const sql = match("/segments/:id/sql", path);
  if (sql) return <SqlSegmentPage id={sql.id!} />;
  const one = match("/segments/:id", path);
  if (one) return <SegmentPage id={one.id!} />;
  return <NotFoundPage />;
}
