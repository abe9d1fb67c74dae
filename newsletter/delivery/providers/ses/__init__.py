"""Amazon SES (API v2, through ``boto3``): its settings, the transport (one raw message a
reader; no scheduler: SES cannot deliver later), the event notifications SES publishes
to an SNS topic (the webhook), the account's suppression list, and the configuration
set's sending metrics (the stats source)."""

from newsletter.delivery.providers.base import Provider
from newsletter.delivery.providers.ses import settings, stats, suppressions, webhook
from newsletter.delivery.providers.ses.transport import SesTransport

PROVIDER = Provider("ses", SesTransport, settings.configured, needs=settings.REGION,
                    webhook=webhook.webhook, suppressions=suppressions.source,
                    stats=stats.source)
