# The readers' service (`newsletter serve`) as a container image; compose.yaml runs it
# with PostgreSQL and Caddy in front (docs/operators.md, "A host for the readers' service").
# The build context is this repository: the package, and the publication's own
# newsletter.yaml and templates/ (the settings `serve` reads; .dockerignore keeps the rest
# out). Secrets are never baked in: they come from the environment at run time.
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# A user of its own, without a login shell or privileges: the service needs none.
RUN useradd --system --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin newsletter

# Exactly the versions the workflows send with, each checked by its hash, then the
# package itself without asking for anything more.
WORKDIR /src
COPY requirements.lock ./
RUN python -m pip install --require-hashes -r requirements.lock
COPY . ./
RUN python -m pip install --no-deps . \
    && mkdir -p /srv/newsletter/outbox \
    && cp newsletter.yaml /srv/newsletter/ \
    && if [ -d templates ]; then cp -r templates /srv/newsletter/; fi \
    && chown newsletter:newsletter /srv/newsletter/outbox \
    && rm -rf /src

# The project folder: newsletter.yaml (read-only, root's), and outbox/, the one place the
# service writes to (confirmation emails when no provider is set up).
WORKDIR /srv/newsletter
USER newsletter

EXPOSE 8080
# /health answers 200 when the database does; urllib raises (exit 1) on anything else.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/health', timeout=4)"]
# 0.0.0.0: inside a container, loopback is not reachable from the proxy's container.
CMD ["newsletter", "serve", "--host", "0.0.0.0", "--port", "8080"]
