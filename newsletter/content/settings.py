"""``newsletter.yaml`` -> Publication: who publishes, from where, in which look.

Secrets never live in this file; they are read from the environment where they are used.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
import unicodedata
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import SplitResult, urljoin, urlsplit
from zoneinfo import ZoneInfo

import idna
from babel import Locale, UnknownLocaleError
from pydantic import AfterValidator, ConfigDict, EmailStr, Field, PrivateAttr, model_validator

from newsletter import timing
from newsletter.content import yamlfile
from newsletter.content.schema import Colour, Prose, Strict, Text, Url, invalid, validate
from newsletter.errors import ConfigError, ProblemsFound

SETTINGS_FILE = "newsletter.yaml"
MAX_SETTINGS_BYTES = 64 * 1024


def _timezone(value: str) -> str:
    try:
        timing.zone(value)
    except timing.UnknownZone as exc:
        raise invalid("timezone", str(exc)) from None
    return value


def _locale(value: str) -> str:
    try:
        Locale.parse(value, sep="-" if "-" in value else "_")
    except (UnknownLocaleError, ValueError):
        raise invalid("locale", f"unknown locale {value!r}; use a tag like 'en-US'") from None
    return value.replace("_", "-")


DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _days(value: tuple[str, ...]) -> tuple[str, ...]:
    days = tuple(day.strip().lower()[:3] for day in value)
    if not days or any(day not in DAYS for day in days):
        raise invalid("days", "publishing days are names like mon, tue, ... sun; "
                              f"got {list(value)}")
    return days


# Characters a logo's URL never has: what would end or split it where it is written (a
# header's Content-Security-Policy, an HTML attribute, a CSS url()), whatever it means
# there. White space, control and format characters are refused by their class.
_LOGO_SPECIALS = frozenset(";,'\"`<>\\{}|^")


def _logo(value: str) -> str:
    """An https URL (a host, IDNA allowed, an optional port, a path; no user or
    password), or a path on the site (``/logo.png``, ``images/logo.png``): emails and
    the readers' pages load it from the web, so it must be reachable over https, and the
    service's Content-Security-Policy names its origin."""
    problem = _logo_problem(value)
    if problem:
        raise invalid("logo", f"must be an https URL or a path on site_url ({problem}), "
                              f"not {value[:60]!r}")
    return value


def _logo_problem(value: str) -> str | None:
    bad = next((c for c in value if c in _LOGO_SPECIALS or c.isspace() or
                unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp", "Zs")),
               None)
    if bad is not None:
        return f"{bad!r} is not allowed"
    parts = urlsplit(value)
    if not parts.scheme and not value.startswith("//"):  # a path on site_url
        return "no '..' in a path" if ".." in parts.path.split("/") else None
    if parts.scheme.lower() != "https":
        return "https only"
    if "@" in parts.netloc:
        return "no user or password"
    if _origin(parts) is None:
        return "not a valid host and port"
    return "a path to the image is needed" if parts.path in ("", "/") else None


def _origin(parts: SplitResult) -> str | None:
    """``scheme://host[:port]`` of a URL, the host in IDNA (ASCII) form; None when the
    host or the port is not valid."""
    try:
        port, host = parts.port, parts.hostname or ""
    except ValueError:  # a port that is not a number from 0 to 65535
        return None
    try:
        address = ipaddress.ip_address(host)
        host = f"[{address}]" if address.version == 6 else str(address)
    except ValueError:
        try:
            host = idna.encode(host, uts46=True).decode("ascii")
        except idna.IDNAError:
            return None
    if not host or port == 0:
        return None
    return f"{parts.scheme.lower()}://{host}" + (f":{port}" if port is not None else "")


def _clock(value: str) -> str:
    if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", value):
        raise invalid("clock", f"must be a 24-hour time like '06:00', not {value!r}")
    return value


class FromAddress(Strict):
    """Who the email is from: the From header."""

    name: Text
    address: EmailStr


class Theme(Strict):
    """Colours of the light edition, and of the dark one for clients that ask for it."""

    accent: Colour = "#c8102e"
    text: Colour = "#1b1b1b"
    muted: Colour = "#5c5c5c"
    background: Colour = "#f3f1ec"
    card: Colour = "#ffffff"
    dark_text: Colour = "#ececec"
    dark_muted: Colour = "#a8a8a8"
    dark_background: Colour = "#121212"
    dark_card: Colour = "#1e1e1e"
    dark_accent: Colour = "#ff6b6b"
    # Form errors and what cannot be undone (erasing) on the readers' pages: a hue of
    # their own, not the links' accent, 7:1 on the default cards.
    error: Colour = "#9a3412"
    dark_error: Colour = "#fdba74"

    @property
    def rule(self) -> str:
        """The thin line between teasers: a quarter of the way from the card to the text,
        so it is seen (about 1.7:1 on the default card) without competing with the words."""
        return mix(self.card, self.text, RULE_WEIGHT)

    @property
    def dark_rule(self) -> str:
        """The same line in dark mode, mixed from the dark card and text the same way."""
        return mix(self.dark_card, self.dark_text, RULE_WEIGHT)


RULE_WEIGHT = 0.25


def mix(base: str, other: str, weight: float) -> str:
    """``weight`` of ``other`` over ``base`` (two #rrggbb colours), as #rrggbb."""
    channels = (round(int(base[i:i + 2], 16) * (1 - weight) + int(other[i:i + 2], 16) * weight)
                for i in (1, 3, 5))
    return "#" + "".join(f"{c:02x}" for c in channels)


class DeliverySettings(Strict):
    """How the issue reaches inboxes; credentials are not here but in the environment.

    Besides these, each provider has a block of its own named after it
    (``delivery.NAME``), which the provider's transport validates itself: this layer knows
    no provider.
    """

    model_config = ConfigDict(extra="allow", frozen=True, populate_by_name=True)

    unsubscribe_url: Url | None = None  # default: site_url + "/unsubscribe"
    unsubscribe_mailto: EmailStr | None = None  # default: reply_to, else the from address
    greeting: Text | None = None  # e.g. "Good morning, {name}."
    greeting_without_name: Text | None = None  # for subscribers with no name on file

    def greeting_for(self, name: str | None) -> str | None:
        """The greeting a reader called ``name`` (or with no name on file) gets, or None
        when the publication greets no one."""
        if self.greeting is None:
            return None
        if name:
            return self.greeting.replace("{name}", name)
        return self.greeting_without_name or \
            self.greeting.replace(", {name}", "").replace("{name}", "")

    def transport_blocks(self) -> dict[str, Any]:
        """The blocks named after a transport (or anything else not declared above)."""
        return dict(self.model_extra or {})


class Readers(Strict):
    """The readers' service (``newsletter serve``): where it answers, and its limits."""

    service_url: Url | None = None  # default: site_url
    confirm_days: Annotated[int, Field(ge=1, le=90)] = 7  # a confirmation link's life
    requests_per_hour: Annotated[int, Field(ge=1, le=100_000)] = 20  # per client address
    # A proof-of-work challenge (ALTCHA) on the subscribe form; the page then needs
    # JavaScript, and loads ALTCHA's widget from altcha_script (a copy you serve).
    altcha: bool = False
    altcha_script: Url | None = None
    altcha_difficulty: Annotated[int, Field(ge=1_000, le=10_000_000)] = 100_000

    @model_validator(mode="after")
    def _script_for_altcha(self) -> Readers:
        if self.altcha and not self.altcha_script:
            raise ValueError("altcha needs altcha_script: the address of ALTCHA's widget "
                             "script (altcha.min.js) as you serve it")
        return self


class Campaign(Strict):
    """UTM tags added to every story link; ``{date}`` stands for the issue's date."""

    source: Text
    medium: Text = "email"
    campaign: Text = "{date}"


class Publication(Strict):
    name: Text
    tagline: Text
    site_url: Url
    sender: FromAddress = Field(alias="from")
    reply_to: EmailStr | None = None
    postal_address: Prose  # may be written on several lines
    locale: Annotated[Text, AfterValidator(_locale)] = "en-US"
    timezone: Annotated[Text, AfterValidator(_timezone)] = "UTC"
    send_time: Annotated[Text, AfterValidator(_clock)] = "06:00"
    publishing_days: Annotated[tuple[Text, ...], AfterValidator(_days)] = DAYS
    default_section_title: Text = "The Wrap"
    # The masthead's image on the readers' pages and in the confirmation email (its alt
    # text is the name): an https URL, or a path on site_url.
    logo: Annotated[Text, AfterValidator(_logo)] | None = None
    # The publication's own privacy notice, linked from the readers' pages beside theirs.
    privacy_url: Url | None = None
    theme: Theme = Theme()
    delivery: DeliverySettings = DeliverySettings()
    readers: Readers = Readers()
    utm: Campaign | None = None
    # What the readers' service learns of clicks: "aggregate" counts them per issue and
    # story, naming no reader; "individual" keeps, besides, which reader opened and
    # clicked what (store/activity.py: for publications whose readers consented); "off"
    # sends readers straight to the stories. Clicks go through the service only when
    # readers.service_url is set (a service runs).
    tracking: Literal["off", "aggregate", "individual"] = "aggregate"
    # An image of one pixel from the readers' service in each email, counting opens per
    # issue (the same image for every reader: no reader is named). Off by default: the
    # provider's open tracking does the same, and both on would count each open twice.
    open_pixel: bool = False

    # The document this was read from, for the line and column of settings that other
    # parts validate later (the transports' blocks).
    _source: yamlfile.Document = PrivateAttr(default_factory=lambda: yamlfile.Document(
        SETTINGS_FILE))

    @property
    def source(self) -> yamlfile.Document:
        return self._source

    @property
    def section_title_set(self) -> str | None:
        """``default_section_title`` when newsletter.yaml gives it; else None, and the
        templates' words stand in ("The Wrap", in the publication's language)."""
        given = "default_section_title" in self.model_fields_set
        return self.default_section_title if given else None

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def send_clock(self) -> dt.time:
        return dt.time.fromisoformat(self.send_time)

    @property
    def unsubscribe_base(self) -> str:
        return self.delivery.unsubscribe_url or f"{self.service_url}/unsubscribe"

    @property
    def individual(self) -> bool:
        """Whether opens and clicks are kept per reader (``tracking: individual``)."""
        return self.tracking == "individual"

    @property
    def click_base(self) -> str | None:
        """Where click links go (``SERVICE/c/``), or None when clicks are not tracked
        through the service (tracking off, or no service_url of its own)."""
        if self.tracking == "off" or self.readers.service_url is None:
            return None
        return f"{str(self.readers.service_url).rstrip('/')}/c/"

    @property
    def open_base(self) -> str | None:
        """Where the open pixel is (``SERVICE/o/``), or None when there is none."""
        click = self.click_base
        return None if click is None or not self.open_pixel else f"{click[:-3]}/o/"

    @property
    def service_url(self) -> str:
        """Where ``newsletter serve`` answers readers (no trailing slash)."""
        return (self.readers.service_url or self.site_url).rstrip("/")

    @property
    def manage_base(self) -> str:
        return f"{self.service_url}/manage"

    @property
    def subscribe_url(self) -> str:
        return f"{self.service_url}/subscribe"

    @property
    def unsubscribe_mailto(self) -> str:
        return str(self.delivery.unsubscribe_mailto or self.reply_to or self.sender.address)

    @property
    def logo_url(self) -> str | None:
        """The logo as an absolute URL (a path is taken on site_url), or None."""
        return urljoin(self.site_url.rstrip("/") + "/", self.logo) if self.logo else None

    @property
    def logo_origin(self) -> str | None:
        """Where the logo loads from, ``https://host[:port]`` and nothing else (the host
        in IDNA form), for a Content-Security-Policy's ``img-src``; None without a logo,
        or when it cannot be said (a site_url that is no URL)."""
        url = self.logo_url
        return _origin(urlsplit(url)) if url else None

    def web_url(self, day: dt.date) -> str:
        """Where the web edition of the issue for ``day`` lives (the archive's layout)."""
        return f"{self.site_url.rstrip('/')}/{day.isoformat()}/"


def load(path: Path) -> Publication:
    """Read and validate a settings file; every problem is raised together."""
    if not path.is_file():
        raise ConfigError(f"{path}: settings file not found (run in the folder that holds "
                          f"{SETTINGS_FILE}, or pass --config)")
    doc = yamlfile.load(path, display=str(path), max_bytes=MAX_SETTINGS_BYTES)
    publication, problems = validate(Publication, doc)
    if doc.problems or problems or publication is None:
        raise ProblemsFound(doc.problems + problems)
    publication._source = doc
    return publication
