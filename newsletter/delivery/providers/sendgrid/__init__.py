"""SendGrid: its settings, the transport (which is also its scheduler: ``send_at`` and
``batch_id``), the Event Webhook and the suppression lists."""

from newsletter.delivery.providers.base import Provider
from newsletter.delivery.providers.sendgrid import settings, suppressions, webhook
from newsletter.delivery.providers.sendgrid.transport import SendGridTransport

PROVIDER = Provider("sendgrid", SendGridTransport, settings.configured, needs=settings.API_KEY,
                    webhook=webhook.webhook, suppressions=suppressions.source)
