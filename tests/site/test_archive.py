"""The web archive parsed back: every issue present, links resolve, the feed is Atom."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from urllib.parse import urljoin

import lxml.html
import pytest
from click.testing import CliRunner
from lxml import etree

from newsletter.cli import main
from newsletter.project import Project
from newsletter.site import archive

A = "{http://www.w3.org/2005/Atom}"
TODAY = dt.date(2024, 7, 24)  # 2024-07-25 is still to come


@pytest.fixture
def site(project: Project, tmp_path: Path) -> Path:
    assert archive.build(project, tmp_path / "site", TODAY).left_out == []
    return tmp_path / "site"


def test_published_issues_only_newest_first(site: Path) -> None:
    index = lxml.html.parse(str(site / "index.html")).getroot()
    assert index.xpath("//main//a/@href") == ["2024-07-24/", "2024-07-23/"]
    assert not (site / "2024-07-25").exists()
    assert index.xpath("//main//time/@datetime") == ["2024-07-24", "2024-07-23"]


def test_every_relative_link_resolves_inside_the_folder(site: Path) -> None:
    for page in site.rglob("*.html"):
        for href in lxml.html.parse(str(page)).getroot().xpath("//a/@href | //link/@href"):
            if "://" in href:
                continue
            target = Path(urljoin(page.as_uri(), href).removeprefix("file://"))
            target = target / "index.html" if href.endswith("/") else target
            assert target.is_file(), f"{page}: {href}"
            assert site in target.parents


def test_issue_pages_are_the_email_without_personal_parts(site: Path, project: Project) -> None:
    html = (site / "2024-07-23" / "index.html").read_text()
    assert "%%" not in html
    page = lxml.html.document_fromstring(html)
    assert "Putin says Russia could send weapons to North Korea" in page.text_content()
    assert project.publication.unsubscribe_base in page.xpath("//a/@href")
    assert project.publication.manage_base in page.xpath("//a/@href")  # no reader's token
    assert project.publication.subscribe_url in page.xpath("//a/@href")


def test_the_index_has_a_subscribe_form_for_the_service(site: Path, project: Project) -> None:
    index = lxml.html.parse(str(site / "index.html")).getroot()
    [form] = index.xpath("//footer//form")
    assert form.get("method") == "post" and form.get("action") == \
        project.publication.subscribe_url == "https://news.bigmedia.example/subscribe"
    assert form.xpath(".//input[@type='email']/@name") == ["email"]
    assert form.xpath(".//input[@name='website']/@tabindex") == ["-1"]  # the hidden field


def test_feed_is_atom(site: Path) -> None:
    feed = etree.parse(str(site / "feed.xml")).getroot()
    assert feed.tag == f"{A}feed"
    for required in ("id", "title", "updated"):  # RFC 4287 4.1.1
        assert feed.find(f"{A}{required}").text
    assert feed.find(f"{A}link[@rel='self']").get("href") == \
        "https://news.bigmedia.example/feed.xml"
    entries = feed.findall(f"{A}entry")
    assert [e.find(f"{A}id").text for e in entries] == [
        "https://news.bigmedia.example/2024-07-24/", "https://news.bigmedia.example/2024-07-23/"]
    for entry in entries:
        for required in ("id", "title", "updated", "summary"):
            assert entry.find(f"{A}{required}").text
        dt.datetime.fromisoformat(entry.find(f"{A}updated").text)  # RFC 3339
        assert entry.find(f"{A}link[@rel='alternate']").get("href").startswith("https://")
    assert feed.find(f"{A}updated").text == entries[0].find(f"{A}updated").text


def test_archive_command(project_dir: Path) -> None:
    result = CliRunner().invoke(main, ["archive", "--out", "public", "--all"])
    assert result.exit_code == 0
    assert result.output == "wrote 3 issue pages, index.html and feed.xml to public/\n"
    assert (project_dir / "public" / "2024-07-25" / "index.html").is_file()


def test_through_publishes_an_issue_before_its_day(project_dir: Path) -> None:
    import time_machine

    with time_machine.travel(dt.datetime(2024, 7, 24, 18, 0, tzinfo=dt.UTC), tick=False):
        result = CliRunner().invoke(main, ["archive", "--out", "early", "--through",
                                           "tomorrow"])
    assert result.exit_code == 0, result.output
    assert result.output == "wrote 3 issue pages, index.html and feed.xml to early/\n"
    assert (project_dir / "early" / "2024-07-25" / "index.html").is_file()
