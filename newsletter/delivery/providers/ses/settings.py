"""Amazon SES's settings: the block ``delivery.ses`` of newsletter.yaml (what the
publication chooses) and its variables in the environment (where SES is, the AWS
credentials, the event topic).

- ``SES_REGION``: sets SES up (``auto`` asks in the registry's order), and names the
  region of the account whose verified identity sends, e.g. ``eu-west-1``. AWS
  credentials alone never set SES up: a runner or a laptop often has them for something
  else, and ``auto`` must not start sending real mail because of that.
- ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``: the
  credentials, when given; else ``AWS_PROFILE``, else boto3's own chain (a web identity
  token such as GitHub's OIDC role, a container or instance role).
- ``SES_ENDPOINT_URL``: a stand-in SES API (moto in the tests, a VPC endpoint); default
  AWS's endpoint of the region.
- ``SES_SNS_TOPIC_ARN``: the SNS topic that the configuration set's event destination
  publishes to; sets up the webhook at /webhooks/ses, which takes that topic's posts only.
- ``SES_SNS_CA_FILE``, ``SES_SNS_CONNECT_TO``: where the webhook fetches SNS's signing
  certificates and confirms its subscription. Never needed against AWS; for a
  TLS-inspecting egress proxy (its CA) and for the tests (their own CA, and a local
  server to connect to). The name checked in TLS is still SNS's host.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from pydantic import Field

from newsletter.config import Environment
from newsletter.delivery.providers.base import Options

REGION = "SES_REGION"
ENDPOINT = "SES_ENDPOINT_URL"
TOPIC = "SES_SNS_TOPIC_ARN"
SNS_CA_FILE = "SES_SNS_CA_FILE"
SNS_CONNECT_TO = "SES_SNS_CONNECT_TO"

# SES's own rule for a configuration set's name: letters, digits, - and _, 64 at most.
SET_NAME = r"^[A-Za-z0-9_-]{1,64}$"
IDENTITY_ARN = r"^arn:aws[a-z-]*:ses:[a-z0-9-]+:[0-9]{12}:identity/\S{1,320}$"


class SesOptions(Options):
    # One message a request, whatever the batch: SES's SendEmail takes one raw message.
    # A batch of one lets the ledger know each message's fate, and `--rate` then counts
    # messages a second, which is how SES states an account's limit.
    batch_size: Annotated[int, Field(ge=1, le=1000)] = 1
    # The configuration set named on every message: where SES publishes its events
    # (to the SNS topic of /webhooks/ses) and which tracking it does. Required to send.
    configuration_set: Annotated[str, Field(pattern=SET_NAME)] | None = None
    # Sending authorisation: another account's identity to send as (its ARN).
    from_arn: Annotated[str, Field(pattern=IDENTITY_ARN)] | None = None


@dataclass(frozen=True)
class SesEnvironment:
    region: str = ""
    endpoint_url: str = ""
    access_key_id: str = ""
    secret_access_key: str = field(default="", repr=False)
    session_token: str = field(default="", repr=False)
    profile: str = ""
    topic_arn: str = ""
    sns_ca_file: str = ""
    sns_connect_to: str = ""

    @classmethod
    def read(cls, env: Environment) -> SesEnvironment:
        return cls(env.get(REGION), env.get(ENDPOINT), env.get("AWS_ACCESS_KEY_ID"),
                   env.get("AWS_SECRET_ACCESS_KEY"), env.get("AWS_SESSION_TOKEN"),
                   env.get("AWS_PROFILE"), env.get(TOPIC), env.get(SNS_CA_FILE),
                   env.get(SNS_CONNECT_TO))


def configured(env: Environment) -> bool:
    return bool(env.get(REGION))
