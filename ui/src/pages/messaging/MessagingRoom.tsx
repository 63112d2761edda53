// Every /messages… page, loaded together on demand.
import { match } from "../../router";
import { NotFoundPage } from "../NotFoundPage";
import { BlockPage } from "./BlockPage";
import { BlocksPage } from "./BlocksPage";
import { ChannelsPage } from "./ChannelsPage";
import { DeliveryLogPage } from "./DeliveryLogPage";
import { MessageEditorPage } from "./MessageEditorPage";
import { MessagesPage } from "./MessagesPage";
import { SuppressionsPage } from "./SuppressionsPage";

export function MessagingRoom({ path }: { path: string }) {
  if (path === "/messages") return <MessagesPage />;
  if (path === "/messages/new") return <MessageEditorPage />;
  if (path === "/messages/suppressions") return <SuppressionsPage />;
  if (path === "/messages/blocks") return <BlocksPage />;
  if (path === "/messages/blocks/new") return <BlockPage />;
  if (path === "/messages/channels") return <ChannelsPage />;
  if (path === "/messages/log") return <DeliveryLogPage />;
  const block = match("/messages/blocks/:id", path);
  if (block) return <BlockPage id={block.id!} />;
  const message = match("/messages/:id", path);
  if (message) return <MessageEditorPage id={message.id!} />;
  return <NotFoundPage />;
}
