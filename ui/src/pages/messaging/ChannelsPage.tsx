// Channel settings: placeholder replaced below once the channels API is read.
import { MessagingNav } from "./nav";

export function ChannelsPage() {
  return (
    <div className="page">
      <div className="page-head"><div><h1>Channels</h1></div></div>
      <MessagingNav />
    </div>
  );
}
