"""newsletter: a daily digest from YAML files in git to every subscriber's inbox."""

__version__ = "0.1.0"
