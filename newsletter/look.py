"""Where the publication's templates are found: the ``templates/`` folder beside its
newsletter.yaml first, then the package's defaults.

The defaults are the repository's own ``templates/`` folder (the issue email, its text
edition, the archive, the readers' pages, the confirmation and welcome emails), which the
package reaches as ``newsletter/templates`` (a link to it in the repository, the folder
itself in an installed package). One copy: an editor changes the look where the design
card says it lives, and a publication that keeps only the files it changed gets the
others from the package.
"""

from __future__ import annotations

from pathlib import Path

from jinja2 import BaseLoader, ChoiceLoader, FileSystemLoader

DEFAULTS = Path(__file__).resolve().parent / "templates"


def own_folder(root: Path) -> Path:
    """The publication's own templates: the ``templates/`` folder in ``root``, the folder
    of its newsletter.yaml (whether or not it is there: :func:`folders` passes over one
    that is not)."""
    return root / "templates"


def folders(own: Path | None) -> list[Path]:
    """The folders a template is looked for in, in order: the publication's own (when it
    has one) and the defaults, each once (in this repository they are the same folder)."""
    found = [own] if own is not None and own.is_dir() else []
    if not any(folder.resolve() == DEFAULTS.resolve() for folder in found):
        found.append(DEFAULTS)
    return found


def loader(own: Path | None) -> BaseLoader:
    """A Jinja loader over :func:`folders`: a file of the publication's overrides the
    default of the same name."""
    return ChoiceLoader([FileSystemLoader(folder) for folder in folders(own)])
