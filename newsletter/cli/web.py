"""``newsletter serve``: the readers' web service, run by uvicorn."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import click

from newsletter.config import CONFIG_ENV

# What one process holds at once, and why (the figures were measured by
# tests/web/test_hostile.py; benchmarks/README.md has them):
# - CONCURRENCY: connections (and requests in progress) past which uvicorn answers 503 at
#   once instead of taking more. Each waiting connection costs a few kilobytes and a file
#   descriptor; 4,096 is twice the 2,000 trickling posts the service is tested to shrug
#   off, with /health still answering, and far below the descriptors it asks for.
# - KEEP_ALIVE: seconds an idle connection is kept for its next request (and a new one for
#   its first: web/server.py). Browsers reuse a connection within a second or two; longer
#   only holds descriptors for nobody. (A proxy that keeps connections to the service
#   must time them out sooner than this.)
# - BACKLOG: connections the kernel queues before the process accepts them, for a burst;
#   the kernel caps it at net.core.somaxconn (4,096 on current Linux).
CONCURRENCY = 4096
KEEP_ALIVE = 5
BACKLOG = 2048
_SPARE_FILES = 256  # descriptors for the database, logs, templates and the listening socket


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to serve on; put a reverse proxy with TLS in front of it.")
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True)
@click.option("--workers", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Processes; they share nothing but the database.")
@click.pass_context
def serve(ctx: click.Context, host: str, port: int, workers: int) -> None:
    """Serve the readers' pages: subscribe (double opt-in), confirm, each reader's own
    page (manage) and "email me my link", one-click unsubscribe (RFC 8058), and each
    provider's event webhook at /webhooks/NAME (where its key is set). Needs
    NEWSLETTER_SECRET, and readers.service_url (the service's own address) in
    newsletter.yaml.

    \b
    Examples:
      newsletter serve
      newsletter serve --host 0.0.0.0 --port 8080 --workers 4
    """
    import uvicorn

    from newsletter.web.app import create_app
    from newsletter.web.server import RequestInTime

    config = ctx.find_root().obj
    if config:  # the worker processes read it from the environment
        os.environ[CONFIG_ENV] = str(Path(config).resolve())
    create_app()  # refuse here, in one line, what every worker would refuse
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    concurrency = _concurrency()
    click.echo(f"serving on http://{host}:{port}/ (Ctrl-C to stop)")
    # uvicorn's access log would print each request's query, and the token in it.
    uvicorn.run("newsletter.web.app:factory", factory=True, host=host, port=port,
                workers=workers, access_log=False, log_level="warning",
                proxy_headers=True, server_header=False, limit_concurrency=concurrency,
                timeout_keep_alive=KEEP_ALIVE, backlog=BACKLOG, http=RequestInTime)


def _concurrency() -> int:
    """CONCURRENCY, with the descriptors for it: the soft limit is raised towards the hard
    one (often 1,024 against far more), and the concurrency lowered to fit when even the
    hard limit is short. Out of descriptors, the event loop stops accepting connections
    for a second at a time, and then nothing answers, /health included."""
    try:
        import resource
    except ImportError:  # not POSIX: the system's own limits stand
        return CONCURRENCY
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = CONCURRENCY + _SPARE_FILES
    if soft != resource.RLIM_INFINITY and soft < wanted:
        soft = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    if soft == resource.RLIM_INFINITY:
        return CONCURRENCY
    return max(min(CONCURRENCY, soft - _SPARE_FILES), 64)
