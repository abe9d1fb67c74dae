"""``newsletter serve``: the readers' web service, run by uvicorn."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import click

from newsletter.config import CONFIG_ENV


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to serve on; put a reverse proxy with TLS in front of it.")
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True)
@click.option("--workers", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Processes; they share nothing but the database.")
@click.pass_context
def serve(ctx: click.Context, host: str, port: int, workers: int) -> None:
    """Serve the readers' pages: one-click unsubscribe (RFC 8058) and SendGrid's Event
    Webhook (set SENDGRID_WEBHOOK_PUBLIC_KEY). Needs NEWSLETTER_SECRET.

    \b
    Examples:
      newsletter serve
      newsletter serve --host 0.0.0.0 --port 8080 --workers 4
    """
    import uvicorn

    from newsletter.web.app import create_app

    config = ctx.find_root().obj
    if config:  # the worker processes read it from the environment
        os.environ[CONFIG_ENV] = str(Path(config).resolve())
    create_app()  # refuse here, in one line, what every worker would refuse
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    click.echo(f"serving on http://{host}:{port}/ (Ctrl-C to stop)")
    # uvicorn's access log would print each request's query, and the token in it.
    uvicorn.run("newsletter.web.app:factory", factory=True, host=host, port=port,
                workers=workers, access_log=False, log_level="warning",
                proxy_headers=True, server_header=False)
