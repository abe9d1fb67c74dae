"""The package's version, in a module of its own: the modules below the package root
(the guard's user agent, ``newsletter --version``) read it here, since importing the root
would make them depend on the whole public API it names. The root re-exports it.

Kept equal to ``version`` in pyproject.toml."""

__version__ = "0.1.0"
