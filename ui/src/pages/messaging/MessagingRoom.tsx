// Every /messages… page, loaded together on demand.
import { NotFoundPage } from "../NotFoundPage";
import { MessagesPage } from "./MessagesPage";
import { SuppressionsPage } from "./SuppressionsPage";

export function MessagingRoom({ path }: { path: string }) {
  if (path === "/messages") return <MessagesPage />;
  if (path === "/messages/suppressions") return <SuppressionsPage />;
  return <NotFoundPage />;
}
