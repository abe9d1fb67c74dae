"""SMTP: one message a reader over a relay, with the standard library. No scheduler, no
webhook, no suppression lists (a relay keeps none we can read)."""

from newsletter.delivery.providers.base import Provider
from newsletter.delivery.providers.smtp import settings
from newsletter.delivery.providers.smtp.transport import SmtpTransport

PROVIDER = Provider("smtp", SmtpTransport, settings.configured, needs=settings.HOST)
