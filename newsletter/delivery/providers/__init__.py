"""The providers: one package each (settings, transport, and where the provider has them
a scheduler, a webhook and a suppression source), listed by ``registry``, the only module
that imports them."""
