"""The web archive parsed back: every issue present, links resolve, the feed is Atom."""

from __future__ import annotations

import datetime as dt
import re
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


def test_every_link_on_every_page_resolves(project: Project, tmp_path: Path) -> None:
    """With the readers' service and without, every relative link (and stylesheet, feed
    and image) leads to a file of the archive, and every other one to an address."""
    for settings in ("", SERVICE):
        with_settings(project, settings)
        out = tmp_path / f"site{len(settings)}"
        archive.build(Project(project.config), out, TODAY, include_future=True)
        pages = sorted(out.rglob("*.html"))
        assert len(pages) == 4
        for page in pages:
            assert_links_resolve(out, page)


def assert_links_resolve(site: Path, page: Path) -> None:
    root = lxml.html.parse(str(page)).getroot()
    for href in root.xpath("//a/@href | //link/@href | //img/@src | //form/@action"):
        if href.startswith(("https://", "http://")):
            continue
        assert "//" not in href and not href.startswith("/"), f"{page}: {href}"  # relative
        target = Path(urljoin(page.as_uri(), href).removeprefix("file://"))
        target = target / "index.html" if href.endswith("/") else target
        assert target.is_file(), f"{page}: {href}"
        assert site in target.parents


SERVICE = "readers:\n  service_url: https://readers.bigmedia.example\n"


def with_settings(project: Project, extra: str) -> Project:
    """The project with ``extra`` added to its newsletter.yaml (read afresh)."""
    text = project.config.read_text().split("readers:")[0]
    project.config.write_text(text + extra)
    return Project(project.config)


def page_of(site: Path, day: str) -> lxml.html.HtmlElement:
    return lxml.html.parse(str(site / day / "index.html")).getroot()


def test_an_issue_page_is_a_web_page_with_no_reader_links(site: Path,
                                                          project: Project) -> None:
    html = (site / "2024-07-23" / "index.html").read_text()
    assert "%%" not in html
    page = lxml.html.document_fromstring(html)
    pub = project.publication
    hrefs = page.xpath("//a/@href")
    for reader_link in (pub.unsubscribe_base, pub.manage_base, pub.web_url(dt.date(2024, 7, 23))):
        assert not [h for h in hrefs if h.startswith(reader_link)], reader_link
    words = " ".join(page.text_content().split())
    for email_only in ("Unsubscribe", "View in your browser", "Forwarded to you?"):
        assert email_only not in words
    # Landmarks, one h1 (the lead's headline), the stories as headings.
    for landmark in ("header", "main", "nav", "footer"):
        assert len(page.xpath(f"//body/{landmark}")) == 1, landmark
    assert [h.text_content() for h in page.xpath("//h1")] == [
        "Putin says Russia could send weapons to North Korea"]
    assert page.xpath("//main//h2/text()") == ["BIG Wrap"]
    assert page.xpath("//main//h3/a/text()") == [
        "Netanyahu's balancing act in Washington after Biden leaves the race",
        "Who might challenge Harris for the Democratic nomination?"]
    assert page.xpath("//title/text()") == [
        "Putin raises the prospect of arming North Korea · BIG Media"]
    assert "Tuesday, July 23, 2024" in words
    assert "a <strong>mutual defence treaty</strong> with" in html  # Markdown made HTML
    assert page.xpath("//header//a/@href") == ["../"]
    assert "../feed.xml" in page.xpath("//footer//a/@href")


def test_previous_and_next_issues_and_none_past_the_ends(site: Path) -> None:
    def nav(day: str) -> dict[str, str]:
        return {a.get("rel") or a.get("class"): a.get("href")
                for a in page_of(site, day).xpath("//nav//a")}

    assert nav("2024-07-23") == {"next": "../2024-07-24/", "all": "../"}
    assert nav("2024-07-24") == {"prev": "../2024-07-23/", "all": "../"}  # 25th unpublished
    [earlier] = page_of(site, "2024-07-24").xpath("//nav//a[@rel='prev']")
    assert "Putin raises the prospect of arming North Korea" in earlier.text_content()


def test_no_service_no_form_and_no_dead_link(site: Path, project: Project) -> None:
    """Without a readers' service the archive is all there is: a form would post to an
    address that answers nothing."""
    for page in site.rglob("*.html"):
        root = lxml.html.parse(str(page)).getroot()
        assert root.xpath("//form") == []
        assert not [h for h in root.xpath("//a/@href") if h.startswith(
            project.publication.service_url + "/")], page


@pytest.mark.parametrize("page", ["index.html", "2024-07-23/index.html"])
def test_a_service_gets_a_subscribe_form_on_every_page(project: Project, tmp_path: Path,
                                                        page: str) -> None:
    archive.build(with_settings(project, SERVICE), tmp_path / "site", TODAY)
    root = lxml.html.parse(str(tmp_path / "site" / page)).getroot()
    [form] = root.xpath("//footer//form")
    assert form.get("method") == "post"
    assert form.get("action") == "https://readers.bigmedia.example/subscribe"
    assert form.xpath(".//input[@type='email']/@name") == ["email"]
    assert form.xpath(".//input[@name='website']/@tabindex") == ["-1"]  # the hidden field
    [email_field] = form.xpath(".//input[@type='email']")
    assert form.xpath(f".//label[@for='{email_field.get('id')}']/text()") == [
        "Get BIG Media by email:"]


def test_a_service_with_a_challenge_gets_a_link_to_its_form(project: Project,
                                                            tmp_path: Path) -> None:
    """ALTCHA's proof of work is solved on the service's own page: a form here could not."""
    altcha = SERVICE + "  altcha: true\n  altcha_script: https://readers.bigmedia.example/a.js\n"
    archive.build(with_settings(project, altcha), tmp_path / "site", TODAY)
    root = page_of(tmp_path / "site", "2024-07-23")
    assert root.xpath("//form") == []
    assert "https://readers.bigmedia.example/subscribe" in root.xpath("//footer//a/@href")


MARKED = """\
date: 2024-07-22
lead:
  headline: Marks
  source: Src
  url: https://example.com/lead
  body: |
    Plans for *ocean-based carbon removal* are _not yet_ **funded**, say `experts`
    in [a report](https://example.com/report) and __another__.

    Second paragraph.
sections:
  - items:
      - {headline: T, source: S, url: "https://example.com/t", summary: s.}
"""


def test_excerpts_and_the_feed_are_plain_text(project: Project, project_dir: Path,
                                              tmp_path: Path) -> None:
    (project_dir / "issues" / "2024-07-22.yaml").write_text(MARKED)
    archive.build(project, tmp_path / "site", TODAY)
    plain = ("Plans for ocean-based carbon removal are not yet funded, say experts in a "
             "report and another.")
    index = lxml.html.parse(str(tmp_path / "site" / "index.html")).getroot()
    excerpts = index.xpath("//main//p[@class='excerpt']/text()")
    feed = etree.parse(str(tmp_path / "site" / "feed.xml")).getroot()
    summaries = [e.findtext(f"{A}summary") for e in feed.findall(f"{A}entry")]
    assert excerpts[-1] == summaries[-1] == plain
    for text in excerpts + summaries:
        assert not re.search(r"[*_`]\w|\w[*_`]|\]\(", text), text
    # The page itself keeps the emphasis, as HTML.
    page = (tmp_path / "site" / "2024-07-22" / "index.html").read_text()
    assert "<em>ocean-based carbon removal</em>" in page and "<strong>funded</strong>" in page


def test_a_german_publication_gets_german_dates_and_words(project: Project,
                                                          tmp_path: Path) -> None:
    text = project.config.read_text().replace("locale: en-US", "locale: de-DE")
    project.config.write_text(text)
    archive.build(Project(project.config), tmp_path / "site", TODAY)
    index = lxml.html.parse(str(tmp_path / "site" / "index.html")).getroot()
    assert index.xpath("//main//time/text()") == [
        "Mittwoch, 24. Juli 2024", "Dienstag, 23. Juli 2024"]
    page = page_of(tmp_path / "site", "2024-07-23")
    assert page.get("lang") == "de-DE"
    assert page.xpath("//main//time/text()") == ["Dienstag, 23. Juli 2024"]
    assert page.xpath("//nav/@aria-label") == ["Weitere Ausgaben"]
    assert page.xpath("//nav//a[@class='all']/text()") == ["Alle Ausgaben"]


ODD = """\
date: 2024-07-23
subject: "<script>alert(1)</script> \u05e9\u05dc\u05d5\u05dd"
lead:
  headline: "<script>alert(1)</script> \u05e9\u05dc\u05d5\u05dd \u0645\u0631\u062d\u0628\u0627"
  source: "<b>Src</b>"
  url: https://example.com/lead
  body: "One <script>x()</script> paragraph."
sections:
  - items:
      - {headline: "<img src=x onerror=alert(1)>", source: S, url: "https://example.com/t",
         summary: s.}
"""


def test_an_odd_publication_one_issue_escaped_throughout(project: Project,
                                                         project_dir: Path,
                                                         tmp_path: Path) -> None:
    for old in (project_dir / "issues").iterdir():
        old.unlink()
    (project_dir / "issues" / "2024-07-23.yaml").write_text(ODD)
    archive.build(project, tmp_path / "site", TODAY)
    site = tmp_path / "site"
    page = page_of(site, "2024-07-23")
    assert page.xpath("//script | //img | //b") == []  # all of it text, none of it markup
    assert page.xpath("//h1/text()") == ["<script>alert(1)</script> שלום مرحبا"]
    assert page.xpath("//h3/a/text()") == ["<img src=x onerror=alert(1)>"]
    assert page.xpath("//nav//a/@href") == ["../"]  # no earlier, no later
    index = lxml.html.parse(str(site / "index.html")).getroot()
    assert index.xpath("//script") == []
    assert index.xpath("//main//h2/a/text()") == ["<script>alert(1)</script> שלום"]
    assert index.xpath("//p[@class='excerpt']/text()") == ["One <script>x()</script> paragraph."]
    feed = etree.parse(str(site / "feed.xml")).getroot()
    assert feed.find(f"{A}entry/{A}title").text == "<script>alert(1)</script> שלום"
    for html_page in site.rglob("*.html"):
        assert_links_resolve(site, html_page)


def test_a_page_without_sections_still_stands(project: Project, tmp_path: Path) -> None:
    """Issue files need a section (the schema says so); a page made from an issue without
    one (a template changed by hand, a schema loosened later) is still whole."""
    [rendered] = [r for r in archive.published(project, TODAY).rendered if r.email.date == TODAY]
    issue = rendered.parsed.issue.model_copy(update={"sections": []})
    entry = archive.Entry(rendered.email, issue, "lead", dt.datetime(2024, 7, 24, tzinfo=dt.UTC))
    page = lxml.html.document_fromstring(archive.issue_page(project, [entry], 0))
    assert page.xpath("//main//h2 | //main//h3") == []
    assert len(page.xpath("//h1")) == 1 and page.xpath("//nav//a/@href") == ["../"]


def test_the_build_is_deterministic(project: Project, tmp_path: Path) -> None:
    first = archive.build(project, tmp_path / "one", TODAY).files
    second = archive.build(Project(project.config), tmp_path / "two", TODAY).files
    assert [f.relative_to(tmp_path / "one") for f in first] == \
        [f.relative_to(tmp_path / "two") for f in second]
    assert [f.read_bytes() for f in first] == [f.read_bytes() for f in second]


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


@pytest.fixture
def tomorrow_drafted(project_dir: Path) -> dt.datetime:
    """Tomorrow's issue straight from `new` (a TODO in every field), as pages.yml finds
    it on a push to main: its moment, the evening before."""
    import time_machine

    now = dt.datetime(2024, 7, 24, 18, 0, tzinfo=dt.UTC)
    (project_dir / "issues" / "2024-07-25.yaml").unlink()
    with time_machine.travel(now, tick=False):
        assert CliRunner().invoke(main, ["new", "tomorrow"]).exit_code == 0
    return now


def test_a_draft_is_left_out_without_failing_the_workflow(project_dir: Path,
                                                          tomorrow_drafted: dt.datetime) -> None:
    """`archive --through tomorrow`, what pages.yml runs, published a draft that `send`
    refuses (its page said TODO 12 times). A draft is unfinished, not broken: it is left
    out in one line and the archive exits 0, so the rest still goes up."""
    import time_machine

    with time_machine.travel(tomorrow_drafted, tick=False):
        result = CliRunner().invoke(main, ["archive", "--out", "site", "--through", "tomorrow"])
        sent = CliRunner().invoke(main, ["send", "tomorrow", "--dry-run"])
    assert sent.exit_code == 1 and "a TODO left in the issue is never sent" in sent.output
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "left out issues/2024-07-25.yaml: a draft, 12 TODOs left (published once there are "
        "none, as it is sent)",
        "wrote 2 issue pages, index.html and feed.xml to site/"]
    site = project_dir / "site"
    assert not (site / "2024-07-25").exists()
    assert all("TODO" not in page.read_text() for page in site.rglob("*.*"))


def test_a_draft_beside_a_broken_file_still_fails_for_the_broken_one(
        project_dir: Path, tomorrow_drafted: dt.datetime) -> None:
    import time_machine

    (project_dir / "issues" / "2024-07-22.yaml").write_text("date: [oops\n")
    with time_machine.travel(tomorrow_drafted, tick=False):
        result = CliRunner().invoke(main, ["archive", "--out", "site", "--through", "tomorrow"])
    assert result.exit_code == 1
    assert "left out issues/2024-07-25.yaml: a draft, 12 TODOs left" in result.output
    assert result.output.endswith("Error: left out 1 issue file with errors (above); the rest "
                                  "is written\n")


def test_an_issue_the_send_refuses_for_an_error_in_its_email_is_left_out(
        project: Project, tmp_path: Path) -> None:
    """The file parses but its email has an error (no unsubscribe link in the template):
    the send refuses it, and the archive leaves it out as broken, not as a draft."""
    templates = project.templates_dir
    templates.mkdir(exist_ok=True)
    text = Path(archive.__file__).parent.parent / "templates" / "issue.txt.j2"
    (templates / "issue.txt.j2").write_text(text.read_text().replace("{{ unsubscribe_url }}",
                                                                     ""))
    found = archive.build(Project(project.config), tmp_path / "site", TODAY)
    assert found.drafts == [] and {p.file for p in found.left_out} == {
        "issues/2024-07-23.yaml", "issues/2024-07-24.yaml"}
    assert all("the text edition lacks the unsubscribe link" in p.message
               for p in found.left_out)


def test_warnings_keep_no_issue_out(project: Project, tmp_path: Path) -> None:
    """An issue sent with --allow-warnings has its page: "view in your browser" leads there."""
    path = project.issues_dir / "2024-07-23.yaml"
    path.write_text(path.read_text().replace("preheader:", "# preheader:"))
    assert any(p.severity == "warning" for p in project.check(path))
    found = archive.build(project, tmp_path / "site", TODAY)
    assert (found.left_out, found.drafts) == ([], [])
    assert (tmp_path / "site" / "2024-07-23" / "index.html").is_file()
