"""SendGrid: its settings, the transport (which is also its scheduler: ``send_at`` and
``batch_id``), the Event Webhook, the suppression lists and the category statistics."""

from newsletter.delivery.providers.base import Provider
from newsletter.delivery.providers.sendgrid import settings, stats, suppressions, webhook
from newsletter.delivery.providers.sendgrid.transport import SendGridTransport

PROVIDER = Provider("sendgrid", SendGridTransport, settings.configured, needs=settings.API_KEY,
                    webhook=webhook.webhook, suppressions=suppressions.source,
                    stats=stats.source)
