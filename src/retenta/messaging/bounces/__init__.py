"""What happens to an email after the relay took it: bounces, delays, deliveries, complaints.

Reports arrive three ways and end in one :class:`~.model.Feedback` shape:

- by mail to the per-send VERP return path (``inbound.py``, an aiosmtpd endpoint):
  delivery status notifications (RFC 3464, enhanced codes RFC 3463, ``dsn.py``), the
  free-text bounces of MTAs that ignore RFC 3464 (``dsn.py`` falls back to reading the
  text), and ARF complaint reports (RFC 5965, ``arf.py``);
- by the webhooks of email service providers (``providers/``: Amazon SES through SNS,
  SendGrid's signed Event Webhook, Mailgun's signed webhooks).

``apply.py`` turns feedback into what it means for the contact, exactly once per report:
a message event, the suppression list for hard bounces and complaints, a later retry for
soft bounces.
"""
