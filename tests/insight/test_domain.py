"""`health --dns` against a real DNS server on loopback (a small one, answering from a
zone the test writes, over the DNS protocol by dnspython): what each record says, and
what could not be asked."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import dns.message
import dns.rcode
import dns.rdatatype
import dns.resolver
import dns.rrset
import pytest

from newsletter.insight import domain
from newsletter.insight.domain import Found

ZONE = "bigmedia.example"


class Server:
    """Answers TXT questions from ``records`` (name -> strings); NXDOMAIN otherwise."""

    def __init__(self, records: dict[str, list[str]]) -> None:
        self.records = records
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                data, peer = self.sock.recvfrom(4096)
            except OSError:
                return
            query = dns.message.from_wire(data)
            answer = dns.message.make_response(query)
            question = query.question[0]
            name = question.name.to_text().rstrip(".")
            if name in self.records and question.rdtype == dns.rdatatype.TXT:
                answer.answer.append(dns.rrset.from_text_list(
                    question.name, 60, "IN", "TXT", [f'"{t}"' for t in self.records[name]]))
            elif name not in self.records:
                answer.set_rcode(dns.rcode.NXDOMAIN)
            self.sock.sendto(answer.to_wire(), peer)

    def resolver(self) -> dns.resolver.Resolver:
        asking = dns.resolver.Resolver(configure=False)
        asking.nameservers = ["127.0.0.1"]
        asking.port = self.port
        return asking

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def server() -> Iterator[Server]:
    running = Server({})
    yield running
    running.close()


def _found(server: Server, records: dict[str, list[str]]) -> dict[str, Found]:
    server.records = records
    return {f.name: f.found for f in domain.check(ZONE, resolver=server.resolver())}


def test_a_domain_set_up_well(server: Server) -> None:
    assert _found(server, {
        ZONE: ["v=spf1 include:sendgrid.net -all", "google-site-verification=x"],
        f"_dmarc.{ZONE}": ["v=DMARC1; p=quarantine; rua=mailto:d@bigmedia.example"],
        f"s1._domainkey.{ZONE}": ["v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQ"],
        f"s2._domainkey.{ZONE}": ["v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQ"],
    }) == {"SPF": Found.OK, "DMARC": Found.OK, "DKIM s1": Found.OK, "DKIM s2": Found.OK}


def test_what_is_missing_or_wrong(server: Server) -> None:
    assert _found(server, {ZONE: ["v=spf1 a -all", "v=spf1 mx -all"],
                           f"_dmarc.{ZONE}": ["v=DMARC1; rua=mailto:x@y"],
                           f"s1._domainkey.{ZONE}": ["v=DKIM1; p="]}) == {
        "SPF": Found.WARN, "DMARC": Found.WARN, "DKIM s1": Found.WARN,
        "DKIM s2": Found.MISSING}
    assert _found(server, {ZONE: ["v=spf1 +all"]})["SPF"] is Found.WARN
    assert _found(server, {})["DMARC"] is Found.MISSING


def test_a_resolver_that_does_not_answer_is_unknown_not_wrong() -> None:
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))  # takes the questions, answers none
    asking = dns.resolver.Resolver(configure=False)
    asking.nameservers = ["127.0.0.1"]
    asking.port = silent.getsockname()[1]
    asking.lifetime = 1.0
    try:
        found = domain.check(ZONE, ["s1"], resolver=asking)
    finally:
        silent.close()
    assert {f.found for f in found} == {Found.UNKNOWN}
    assert all("could not ask DNS" in f.detail for f in found)
