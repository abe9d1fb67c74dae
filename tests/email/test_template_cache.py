"""Compiled templates are cached between runs; a cache that fails is passed over."""

from __future__ import annotations

from pathlib import Path

from jinja2 import FileSystemBytecodeCache

from newsletter.email import render
from newsletter.email.render import Renderer
from newsletter.project import Project


def rendered_with(project: Project, cache: FileSystemBytecodeCache | None) -> render.Email:
    renderer = Renderer(project.publication)
    renderer.env.bytecode_cache = cache
    return renderer.render(project.render(project.resolve("2024-07-23")).parsed.issue)


def test_a_cached_template_renders_as_a_fresh_one(project: Project, tmp_path: Path) -> None:
    fresh = rendered_with(project, None)
    (tmp_path / "cache").mkdir()
    cache = render._QuietCache(str(tmp_path / "cache"))
    first = rendered_with(project, cache)
    files = sorted((tmp_path / "cache").iterdir())
    assert len(files) == 2  # the email's two templates, compiled
    again = rendered_with(project, cache)  # read back from the cache this time
    assert (again.html, again.text) == (first.html, first.text) == (fresh.html, fresh.text)
    whole = {path: path.read_bytes() for path in files}
    # A damaged cache file (cut short anywhere: in its header, its checksum or its code,
    # or overwritten) is compiled afresh, not an error.
    for cut in (3, 12, 40, 200, -1, None):
        for path, data in whole.items():
            path.write_bytes(data[:cut] if cut is not None else b"\x00garbage")
        assert rendered_with(project, cache).html == fresh.html, cut


def test_a_cache_that_cannot_be_written_is_no_error(project: Project, tmp_path: Path) -> None:
    blocked = tmp_path / "a file, not a folder"
    blocked.write_text("")
    email = rendered_with(project, render._QuietCache(str(blocked)))
    assert email.html == rendered_with(project, None).html
    assert blocked.read_text() == ""
