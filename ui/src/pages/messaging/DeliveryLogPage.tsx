// Every send of the workspace, or those of one message or contact (ids in the address).
import { useState, type FormEvent } from "react";
import { navigate, useLocation } from "../../router";
import { query } from "../../api";
import { DeliveryLog } from "./DeliveryLog";
import { MessagingNav } from "./nav";

export function DeliveryLogPage() {
  const { search } = useLocation();
  const messageId = search.get("message_id") ?? "";
  const contactId = search.get("contact_id") ?? "";
  const [message, setMessage] = useState(messageId);
  const [contact, setContact] = useState(contactId);
  const apply = (e: FormEvent) => {
    e.preventDefault();
    navigate(`/messages/log${query({ message_id: message.trim(), contact_id: contact.trim() })}`);
  };
  return (
    <div className="page">
      <div className="page-head">
        <div>
          <h1>Delivery log</h1>
          <p className="muted">Every send, its status and the events of its life: queued, sent, delivered, opened, clicked — or bounced, failed, suppressed.</p>
        </div>
      </div>
      <MessagingNav />
      <form className="search" onSubmit={apply} role="search">
        <input aria-label="Message id" placeholder="Message id (msg_…)" value={message} onChange={(e) => setMessage(e.target.value)} />
        <input aria-label="Contact id" placeholder="Contact id" inputMode="numeric" value={contact} onChange={(e) => setContact(e.target.value)} />
        <button className="btn" type="submit">Filter</button>
      </form>
      <DeliveryLog key={`${messageId}:${contactId}`} messageId={messageId || undefined} contactId={contactId || undefined} title="Sends" />
    </div>
  );
}
