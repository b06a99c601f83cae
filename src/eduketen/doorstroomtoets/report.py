"""The pupil report of the Doorstroomtoets: one A4 page per pupil, as PDF.

Layout and every text on the page come from ``report_template.yaml`` beside this file (blocks
drawn top to bottom, placeholders such as ``$leerling_naam``); this module only fills and draws
it. Text is real PDF text in an embedded TrueType font (DejaVu Sans, from the Debian package
``fonts-dejavu-core``), so it can be searched and extracted, and every character of NEN 1888
names (é ë ö ç ğ ş ı ĳ ø å č ñ ...) renders and extracts as itself. When the content is longer
than the page (a test with many parts), sizes and distances shrink together until it fits.

Library choice, by measurement. The same content (title, school, pupil with a diacritic name,
test, 4 score lines, 3 reference levels with explanations, advice, footer) in DejaVu Sans regular
and bold, drawn with each library; one process, reports per CPU-second, best of 3 rounds (the
2 cores were shared with other work, so wall-clock rates were lower and noisy); every PDF's text
checked with pypdf:

    library (Python 3.11)                         reports/s per core   PDF size   text extracts
    reportlab 5.1 canvas, full DejaVu TTF               134               45 KB      yes
    reportlab 5.1 canvas + rl_accel 0.9.1               174               45 KB      yes
    reportlab + rl_accel, DejaVu reduced (*)            250               20 KB      yes
    fpdf2 2.8.9, full DejaVu TTF                          8.1             23 KB      yes
    fpdf2 2.8.9, DejaVu reduced (*)                      25               13 KB      yes
    WeasyPrint 70 (HTML + CSS, Pango from Debian)         2.6             11 KB      yes
    PyMuPDF 2.0 (insert_text + subset_fonts)            ~15               80 KB      yes, broken-CMap warnings
    this module (template, layout, reportlab)           252               20 KB      yes

    (*) reduced once per process with fontTools: Latin, Greek, Cyrillic, punctuation and symbols
        kept; TrueType hinting and OpenType layout tables dropped (PDF viewers do not use them).

fpdf2 and PyMuPDF subset the font per document (fpdf2 with fontTools, ~80 ms); WeasyPrint lays
out HTML with Pango. reportlab's own subsetter is far cheaper, and its C accelerator rl_accel
takes number formatting and string widths out of Python. Chosen: reportlab (canvas API, not
platypus) + rl_accel + the reduced font, with reportlab's ``asciiReadable`` off (smaller width
tables), streams Flate level 1 without ASCII85, all text in one text object, and string widths
cached. bench/pdf_reports.py (realistic, varied content, 3-12 score lines) measured about 210
reports per CPU-second.

Then, profiled: of ~4.7 ms per report, the layout took 0.4 ms and reportlab's writing the rest
(per-document font subsets, its object model, per-character subset assignment). The file is now
written directly (``_write_direct``): fixed object numbers, the page's operators in one
compressed stream, and per font a subset whose codes 0-127 are ASCII and 128-255 the report's
other characters, made once per process for each set of such characters and reused (most
reports share the template's own). reportlab still measures text and makes those subsets.
Same process, same synthetic reports, machine loaded by other work: 2.4 ms per report direct
against 5.9 ms through reportlab's canvas (2.4x); files about 25 KB instead of 19 KB (all of
ASCII is embedded). Text extracts the same (pypdf), every NEN 1888 character included. A report
with more than 128 different non-ASCII characters in one font still goes through the canvas.
Figures of bench/pdf_reports.py: bench/README.md and the table in README.md.
"""

from __future__ import annotations

import functools
import io
import os
import re
import string
import threading
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas

FONT_DIR_ENV = "EDUKETEN_REPORT_FONT_DIR"
DEBIAN_FONT_DIR = "/usr/share/fonts/truetype/dejavu"
DEBIAN_FONT_PACKAGE = "fonts-dejavu-core"
FONT_FILES = {"regular": "DejaVuSans.ttf", "bold": "DejaVuSans-Bold.ttf"}
FONT_NAMES = {"regular": "EduketenSans", "bold": "EduketenSans-Bold"}

# Kept when the font is reduced: Latin (all of NEN 1888 and more), combining marks, Greek,
# Cyrillic, punctuation, currency, letterlike symbols, arrows, maths, geometric shapes.
KEPT_RANGES = (
    (0x20, 0x7E), (0xA0, 0x24F), (0x2B0, 0x36F), (0x370, 0x3FF), (0x400, 0x4FF), (0x1E00, 0x1EFF),
    (0x2000, 0x206F), (0x20A0, 0x20CF), (0x2100, 0x218F), (0x2190, 0x21FF), (0x2200, 0x22FF), (0x25A0, 0x25FF),
)  # fmt: skip


# Flate level of every stream reportlab writes. Its default (zlib's 6) costs about 15 % of a
# report's time for files 1-2 % smaller; 1 is the better trade at 190,000 reports.
ZLIB_LEVEL = 1


def _configure_reportlab(level: int) -> None:
    """Process-wide reportlab settings for the reports: binary streams without ASCII85
    (``rl_config.useA85``, a documented setting: ASCII85 makes the page content a quarter bigger
    and costs time), and Flate at ``level``: reportlab compresses through one module-level filter
    object and has no setting for the level, so that object gets an ``encode`` with ours (same
    output format, FlateDecode)."""
    import types
    import zlib

    from reportlab import rl_config
    from reportlab.pdfbase import pdfdoc

    rl_config.useA85 = 0
    target = getattr(pdfdoc, "PDFZCompress", None)
    if target is None or getattr(target, "_eduketen_level", None) == level:
        return

    def encode(self, text, _level=level):
        if isinstance(text, str):
            text = text.encode("utf8")
        return zlib.compress(text, _level)

    target.encode = types.MethodType(encode, target)
    target._eduketen_level = level


class ReportFontError(RuntimeError):
    """The TrueType font for the report is not on this machine."""


# -- data ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScoreRegel:
    """One line of the scores table: a part of the test (the total is ReportData.toetsscore)."""

    onderdeel: str  # name for people, e.g. Rekenen
    score: str | None = None  # Detailscore
    aantal_goed: str | None = None
    aantal_opgaven: str | None = None
    percentielscore: str | None = None
    diepte: int = 0  # 0 onderdeel, 1 domein, 2 subdomein (indented)


@dataclass(frozen=True)
class NiveauRegel:
    onderdeel: str  # e.g. Rekenen
    niveau: str  # e.g. 1S, 2F, 1F, L1F or <1F


@dataclass(frozen=True)
class ReportData:
    school_name: str
    brin: str | None
    roepnaam: str | None
    achternaam: str | None
    rapport_id: str
    toets_naam: str
    voorvoegsel: str | None = None
    geboortedatum: date | None = None
    toets_id: str | None = None
    afnamedatum: date | None = None
    schooljaar: str | None = None
    toetsscore: str | None = None
    aantal_goed: str | None = None  # whole test
    aantal_opgaven: str | None = None  # whole test
    percentielscore: str | None = None  # whole test
    scores: list[ScoreRegel] = field(default_factory=list)
    referentieniveaus: list[NiveauRegel] = field(default_factory=list)
    toetsadvies: str | None = None
    resultaat_versie: str | None = None  # Definitief or Voorlopig

    @property
    def leerling_naam(self) -> str:
        return " ".join(p for p in (_clean(self.roepnaam), _clean(self.voorvoegsel), _clean(self.achternaam)) if p)


# -- the template -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Template:
    page: dict[str, Any]
    style: dict[str, Any]
    text: dict[str, Any]
    blocks: list[dict[str, Any]]
    footer: dict[str, Any]


def template_path() -> Path:
    return Path(str(resources.files("eduketen.doorstroomtoets").joinpath("report_template.yaml")))


@functools.cache
def load_template(path: str | None = None) -> Template:
    """The report template (default: report_template.yaml beside this module), checked and with
    its texts compiled to ``string.Template``."""
    source = Path(path) if path else template_path()
    raw = yaml.load(source.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    known = set(_placeholder_names())

    def compile_(value: Any, where: str) -> Any:
        if isinstance(value, str) and "$" in value:
            tpl = string.Template(value)
            if not tpl.is_valid():
                raise ValueError(f"{source}: {where}: malformed placeholder in {value!r}")
            unknown = set(tpl.get_identifiers()) - known
            if unknown:
                raise ValueError(
                    f"{source}: {where}: unknown placeholder(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(known))}"
                )
            return tpl
        if isinstance(value, dict):
            return {k: compile_(v, f"{where}.{k}") for k, v in value.items()}
        if isinstance(value, list):
            return [compile_(v, f"{where}[{i}]") for i, v in enumerate(value)]
        return value

    for key in ("page", "style", "text", "blocks", "footer"):
        if key not in raw:
            raise ValueError(f"{source}: the template misses its {key!r} section")
    style = dict(raw["style"])
    for key, value in list(style.items()):
        if key.endswith("_color"):
            style[key] = _rgb(value)
    kinds = {"header", "fields", "paragraph", "scores", "levels", "advice"}
    for i, block in enumerate(raw["blocks"]):
        if block.get("kind") not in kinds:
            raise ValueError(f"{source}: blocks[{i}]: kind must be one of {', '.join(sorted(kinds))}")
    return Template(
        page=raw["page"],
        style=style,
        text=raw["text"],
        blocks=compile_(raw["blocks"], "blocks"),
        footer=compile_(raw["footer"], "footer"),
    )


def _placeholder_names() -> list[str]:
    return [
        "school_name", "brin", "leerling_naam", "roepnaam", "voorvoegsel", "achternaam", "geboortedatum", "toets_naam",
        "toets_id", "afnamedatum", "schooljaar", "toetsscore", "percentielscore", "toetsadvies", "resultaat_versie", "rapport_id",
    ]  # fmt: skip


def _rgb(value: str) -> tuple[float, float, float]:
    match = re.fullmatch(r"#([0-9a-fA-F]{6})", str(value))
    if not match:
        raise ValueError(f"colour {value!r} is not #rrggbb")
    h = match.group(1)
    return (int(h[0:2], 16) / 255, int(h[2:4], 16) / 255, int(h[4:6], 16) / 255)


# -- fonts --------------------------------------------------------------------------------------------------------

_font_lock = threading.Lock()


def font_files() -> dict[str, Path]:
    """Where the TrueType files are: $EDUKETEN_REPORT_FONT_DIR, else Debian's fonts-dejavu-core."""
    directory = Path(os.environ.get(FONT_DIR_ENV) or DEBIAN_FONT_DIR)
    files = {style: directory / name for style, name in FONT_FILES.items()}
    missing = [str(p) for p in files.values() if not p.is_file()]
    if missing:
        raise ReportFontError(
            f"the pupil report needs the DejaVu Sans TrueType fonts, missing: {', '.join(missing)}. "
            f"Install the Debian package {DEBIAN_FONT_PACKAGE} (apt-get install {DEBIAN_FONT_PACKAGE}), "
            f"or point {FONT_DIR_ENV} at a directory holding {' and '.join(FONT_FILES.values())}."
        )
    return files


def reduce_font(data: bytes) -> bytes:
    """The font without hinting and OpenType layout tables, and only the KEPT_RANGES characters:
    a fifth of the size, which makes every report's embedded subset smaller and cheaper."""
    from fontTools import subset
    from fontTools.ttLib import TTFont as FtFont

    options = subset.Options()
    options.hinting = False
    options.layout_features = []
    options.name_IDs = [0, 1, 2, 3, 4, 5, 6, 13, 14]  # copyright, names, version, licence and its URL travel with the font
    options.notdef_outline = True
    options.glyph_names = False
    options.drop_tables += ["GPOS", "GSUB", "GDEF", "kern", "FFTM", "DSIG", "morx", "feat"]
    font = FtFont(io.BytesIO(data), recalcTimestamp=False)  # same input, same bytes
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=[c for low, high in KEPT_RANGES for c in range(low, high + 1)])
    subsetter.subset(font)
    font.recalcTimestamp = False
    out = io.BytesIO()
    font.save(out)
    return out.getvalue()


def ensure_fonts() -> dict[str, str]:
    """Register the report fonts with reportlab once per process; their registered names."""
    registered = set(pdfmetrics.getRegisteredFontNames())
    if all(name in registered for name in FONT_NAMES.values()):
        return FONT_NAMES
    with _font_lock:
        _configure_reportlab(ZLIB_LEVEL)
        registered = set(pdfmetrics.getRegisteredFontNames())
        for style, path in font_files().items():
            name = FONT_NAMES[style]
            if name in registered:
                continue
            data = path.read_bytes()
            try:
                data = reduce_font(data)
            except ImportError:  # fontTools absent: the full font works, reports are bigger and slower
                pass
            font = TTFont(name, io.BytesIO(data), asciiReadable=0)
            pdfmetrics.registerFont(font)
    return FONT_NAMES


# -- filling ------------------------------------------------------------------------------------------------------


def _clean(value: Any) -> str:
    if value is None:
        return ""
    text = unicodedata.normalize("NFC", str(value))
    if text.isprintable():
        return " ".join(text.split())
    return " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())


def _dutch_date(day: date | None, months: list[str]) -> str:
    if day is None:
        return ""
    return f"{day.day} {months[day.month - 1]} {day.year}"


def _values(data: ReportData, tpl: Template) -> dict[str, str]:
    months = tpl.text["months"]
    return {
        "school_name": _clean(data.school_name),
        "brin": _clean(data.brin),
        "leerling_naam": data.leerling_naam,
        "roepnaam": _clean(data.roepnaam) or _clean(tpl.text.get("unknown_pupil", "de leerling")),
        "voorvoegsel": _clean(data.voorvoegsel),
        "achternaam": _clean(data.achternaam),
        "geboortedatum": _dutch_date(data.geboortedatum, months),
        "toets_naam": _clean(data.toets_naam),
        "toets_id": _clean(data.toets_id),
        "afnamedatum": _dutch_date(data.afnamedatum, months),
        "schooljaar": _clean(data.schooljaar),
        "toetsscore": _clean(data.toetsscore),
        "percentielscore": _clean(data.percentielscore),
        "toetsadvies": _clean(data.toetsadvies),
        "resultaat_versie": _clean(data.resultaat_versie),
        "rapport_id": _clean(data.rapport_id),
    }


def _fill(value: Any, values: dict[str, str]) -> str:
    if isinstance(value, string.Template):
        return " ".join(value.substitute(values).split())
    return "" if value is None else str(value)


def _complete(value: Any, values: dict[str, str]) -> bool:
    """Whether every placeholder in ``value`` has a value."""
    if isinstance(value, string.Template):
        return all(values.get(name) for name in value.get_identifiers())
    return True


@functools.lru_cache(maxsize=1 << 16)
def _width(text: str, font: str) -> float:
    """Width of ``text`` at size 1; labels, numbers and words repeat from report to report."""
    return pdfmetrics.stringWidth(text, font, 1.0)


def _wrap(text: str, font: str, limit: float) -> list[str]:
    """Greedy line breaking at spaces, widths at size 1; a word longer than a line stays whole."""
    space = _width(" ", font)
    lines: list[str] = []
    line: list[str] = []
    used = 0.0
    for word in text.split(" "):
        w = _width(word, font)
        if line and used + space + w > limit:
            lines.append(" ".join(line))
            line, used = [word], w
        else:
            used += (space if line else 0.0) + w
            line.append(word)
    if line:
        lines.append(" ".join(line))
    return lines or [""]


# -- layout -------------------------------------------------------------------------------------------------------

# drawing operations: ("t", font, size, colour, x, y, text, align) and ("l", colour, width, x1, y1, x2, y2) and
# ("r", colour, x, y, w, h); y counts from the top of the page.


class _Overflow(Exception):
    pass


class _Layout:
    def __init__(self, tpl: Template, fonts: dict[str, str], scale: float, max_rows: int | None) -> None:
        self.tpl, self.fonts, self.s, self.max_rows = tpl, fonts, scale, max_rows
        page, style = tpl.page, tpl.style
        self.page_w, self.page_h = page["size"]
        self.x0 = page["margin_left"]
        self.x1 = self.page_w - page["margin_right"]
        self.width = self.x1 - self.x0
        self.y = page["margin_top"] * scale
        self.bottom = self.page_h - page["margin_bottom"]
        self.st = style
        self.ops: list[tuple] = []

    # primitives
    def size(self, key: str, factor: float = 1.0) -> float:
        return self.st[key] * factor * self.s

    def text(self, x, y, text, *, bold=False, size=None, colour=None, align="l") -> None:
        if text:
            font = self.fonts["bold" if bold else "regular"]
            self.ops.append(("t", font, size or self.size("font_size"), colour or self.st["text_color"], x, y, text, align))

    def width_of(self, text: str, bold: bool, size: float) -> float:
        return _width(text, self.fonts["bold" if bold else "regular"]) * size

    def wrap(self, text: str, width: float, *, bold=False, size=None) -> list[str]:
        size = size or self.size("font_size")
        font = self.fonts["bold" if bold else "regular"]
        limit = width / size
        if _width(text, font) <= limit:
            return [text]
        return _wrap(text, font, limit)

    def need(self, height: float) -> None:
        if self.y + height > self.bottom + 0.01:
            raise _Overflow

    def paragraph(self, text: str, *, size=None, colour=None, leading=None, bold=False) -> None:
        size = size or self.size("font_size")
        leading = leading or self.size("leading") * size / self.size("font_size")
        for line in self.wrap(text, self.width, size=size, bold=bold):
            self.need(leading)
            self.y += leading
            self.text(self.x0, self.y - leading * 0.25, line, size=size, colour=colour, bold=bold)

    def heading(self, text: str) -> None:
        size = self.size("heading_size")
        self.need(self.size("section_gap") + size * 1.9)
        self.y += self.size("section_gap") + size
        self.text(self.x0, self.y, text, bold=True, size=size, colour=self.st["accent_color"])
        self.y += size * 0.45
        self.ops.append(("l", self.st["rule_color"], 0.6 * self.s, self.x0, self.y, self.x1, self.y))
        self.y += size * 0.45

    # blocks
    def header(self, block: dict, values: dict[str, str]) -> None:
        size = 19 * self.s
        self.y += size
        self.text(self.x0, self.y, _fill(block["title"], values), bold=True, size=size, colour=self.st["accent_color"])
        if values["resultaat_versie"].lower() == "voorlopig" and block.get("voorlopig"):
            label = _fill(block["voorlopig"], values)
            small = 8.5 * self.s
            w = self.width_of(label, True, small) + 10 * self.s
            self.ops.append(("r", _rgb("#b45309"), self.x1 - w, self.y - small * 1.25, w, small * 1.8))
            self.text(self.x1 - 5 * self.s, self.y - small * 0.1, label, bold=True, size=small, colour=(1, 1, 1), align="r")
        subtitle = block["subtitle"] if values["schooljaar"] else block.get("subtitle_without_year", block["subtitle"])
        sub = _fill(subtitle, values)
        if sub:
            size = 11 * self.s
            self.y += size * 1.6
            self.text(self.x0, self.y, sub, size=size, colour=self.st["muted_color"])
        self.y += 8 * self.s
        self.ops.append(("l", self.st["accent_color"], 1.4 * self.s, self.x0, self.y, self.x1, self.y))
        self.y += 6 * self.s

    def fields(self, block: dict, values: dict[str, str]) -> None:
        label_w = block.get("label_width", 110) * self.s
        leading = self.size("leading")
        for label, value, *flags in block["rows"]:
            if not _complete(value, values):
                continue
            text = _fill(value, values)
            if not text:
                continue
            lines = self.wrap(text, self.width - label_w)
            self.need(leading * len(lines))
            for i, line in enumerate(lines):
                self.y += leading
                if i == 0:
                    self.text(self.x0, self.y - leading * 0.25, _fill(label, values), bold=True, colour=self.st["muted_color"])
                self.text(self.x0 + label_w, self.y - leading * 0.25, line, bold="bold" in flags)

    def paragraph_block(self, block: dict, values: dict[str, str]) -> None:
        self.y += self.size("leading") * 0.4
        self.paragraph(_fill(block["text"], values))

    def scores(self, block: dict, data: ReportData, values: dict[str, str]) -> None:
        self.heading(_fill(block["heading"], values))
        rows: list[tuple[str, int, bool, dict[str, str | None]]] = []
        if data.toetsscore or data.aantal_goed or data.aantal_opgaven or data.percentielscore:
            rows.append(
                (_fill(block["total_label"], values), 0, True,
                 {"score": data.toetsscore, "aantal_goed": data.aantal_goed, "aantal_opgaven": data.aantal_opgaven, "percentielscore": data.percentielscore})
            )  # fmt: skip
        for r in data.scores:
            rows.append(
                (
                    r.onderdeel,
                    r.diepte,
                    False,
                    {
                        "score": r.score,
                        "aantal_goed": r.aantal_goed,
                        "aantal_opgaven": r.aantal_opgaven,
                        "percentielscore": r.percentielscore,
                    },
                )
            )
        if not rows:
            self.paragraph(_fill(block["empty"], values), colour=self.st["muted_color"])
            return
        numeric = [c for c in ("score", "aantal_goed", "aantal_opgaven", "percentielscore") if any(_clean(v[c]) for *_, v in rows)]
        widths = block.get("widths", {})
        col_x = []  # right edges of the numeric columns
        x = self.x1
        for c in reversed(numeric):
            col_x.append((c, x - self.size("table_pad")))
            x -= widths.get(c, 80) * self.s
        col_x.reverse()
        name_w = x - self.x0 - self.size("table_pad")
        row_h = self.size("table_row")
        small = self.size("font_size", 0.88)
        hidden = 0
        if self.max_rows is not None and len(rows) > self.max_rows:
            hidden = len(rows) - self.max_rows
            rows = rows[: self.max_rows]
        self.need(row_h * (len(rows) + 1 + (1 if hidden else 0)))
        columns = block["columns"]
        self.y += row_h
        base = self.y - row_h * 0.3
        self.text(
            self.x0 + self.size("table_pad"),
            base,
            _fill(columns["onderdeel"], values),
            bold=True,
            size=small,
            colour=self.st["muted_color"],
        )
        for c, right in col_x:
            self.text(right, base, _fill(columns[c], values), bold=True, size=small, colour=self.st["muted_color"], align="r")
        self.ops.append(("l", self.st["rule_color"], 0.6 * self.s, self.x0, self.y, self.x1, self.y))
        indent = block.get("indent", 12) * self.s
        for i, (name, depth, bold, cells) in enumerate(rows):
            if i % 2 == 1:
                self.ops.append(("r", self.st["stripe_color"], self.x0, self.y, self.width, row_h))
            self.y += row_h
            base = self.y - row_h * 0.3
            left = self.x0 + self.size("table_pad") + indent * depth
            label = name
            while len(label) > 4 and self.width_of(label, bold, self.size("font_size")) > name_w - indent * depth:
                label = label[:-2].rstrip() + "…"  # a very long part name: cut rather than overlap the numbers
            self.text(left, base, label, bold=bold)
            if not any(_clean(cells[c]) for c, _ in col_x):
                continue  # a group line (e.g. Nederlandse taal above Lezen): the name only
            for c, right in col_x:
                self.text(right, base, _clean(cells[c]) or _fill(self.tpl.text["empty_value"], values), bold=bold, align="r")
        if hidden:
            self.y += row_h
            self.text(
                self.x0 + self.size("table_pad"),
                self.y - row_h * 0.3,
                f"… en nog {hidden} onderdelen",
                colour=self.st["muted_color"],
                size=small,
            )
        self.ops.append(("l", self.st["rule_color"], 0.6 * self.s, self.x0, self.y + 1 * self.s, self.x1, self.y + 1 * self.s))
        if "percentielscore" in numeric and block.get("note"):
            self.y += 3 * self.s
            self.paragraph(_fill(block["note"], values), size=small, colour=self.st["muted_color"])

    def levels(self, block: dict, data: ReportData, values: dict[str, str]) -> None:
        self.heading(_fill(block["heading"], values))
        small = self.size("font_size", 0.88)
        if block.get("intro"):
            self.paragraph(_fill(block["intro"], values), size=small, colour=self.st["muted_color"])
            self.y += 4 * self.s
        rows = data.referentieniveaus
        if not rows:
            self.paragraph(_fill(block["empty"], values), colour=self.st["muted_color"])
            return
        hidden = 0
        if self.max_rows is not None and len(rows) > self.max_rows:
            hidden = len(rows) - self.max_rows
            rows = rows[: self.max_rows]
        widths, columns = block.get("widths", {}), block["columns"]
        pad = self.size("table_pad")
        x_name = self.x0 + pad
        x_level = self.x0 + widths.get("onderdeel", 118) * self.s
        x_text = x_level + widths.get("niveau", 52) * self.s
        text_w = self.x1 - x_text - pad
        row_h = self.size("table_row")
        line_h = small * 1.3
        self.need(row_h)
        self.y += row_h
        base = self.y - row_h * 0.3
        for x, key in ((x_name, "onderdeel"), (x_level, "niveau"), (x_text, "uitleg")):
            self.text(x, base, _fill(columns[key], values), bold=True, size=small, colour=self.st["muted_color"])
        self.ops.append(("l", self.st["rule_color"], 0.6 * self.s, self.x0, self.y, self.x1, self.y))
        explanations = block.get("explanations", {})
        for i, r in enumerate(rows):
            niveau = _clean(r.niveau)
            uitleg = explanations.get(niveau) or explanations.get(niveau.upper()) or block.get("unknown", "")
            lines = self.wrap(_fill(uitleg, values), text_w, size=small)
            height = max(row_h, line_h * len(lines) + (row_h - line_h))
            self.need(height)
            if i % 2 == 1:
                self.ops.append(("r", self.st["stripe_color"], self.x0, self.y, self.width, height))
            top = self.y
            base = top + row_h - row_h * 0.3
            self.text(x_name, base, _clean(r.onderdeel))
            self.text(x_level, base, niveau, bold=True, colour=self.st["accent_color"])
            for j, line in enumerate(lines):
                self.text(x_text, base + j * line_h, line, size=small)
            self.y = top + height
        if hidden:
            self.y += row_h
            self.text(x_name, self.y - row_h * 0.3, f"… en nog {hidden} onderdelen", colour=self.st["muted_color"], size=small)
        self.ops.append(("l", self.st["rule_color"], 0.6 * self.s, self.x0, self.y + 1 * self.s, self.x1, self.y + 1 * self.s))

    def advice(self, block: dict, values: dict[str, str]) -> None:
        self.heading(_fill(block["heading"], values))
        text = _fill(block["text"], values) if _complete(block["text"], values) else ""
        if not text:
            self.paragraph(_fill(block["empty"], values), colour=self.st["muted_color"])
        else:
            size = 15 * self.s
            lines = self.wrap(text, self.width - 20 * self.s, bold=True, size=size)
            height = size * 1.35 * len(lines) + size * 0.9
            self.need(height + 6 * self.s)
            self.y += 3 * self.s
            self.ops.append(("r", self.st["stripe_color"], self.x0, self.y, self.width, height))
            self.ops.append(("r", self.st["accent_color"], self.x0, self.y, 3 * self.s, height))
            for j, line in enumerate(lines):
                self.text(
                    self.x0 + 12 * self.s, self.y + size * 1.2 + j * size * 1.35, line, bold=True, size=size, colour=self.st["accent_color"]
                )
            self.y += height + 3 * self.s
        if block.get("note"):
            self.paragraph(_fill(block["note"], values), size=self.size("font_size", 0.88), colour=self.st["muted_color"])

    def footer(self, footer: dict, values: dict[str, str]) -> None:
        size = footer.get("size", 7.5)
        y_rule = self.page_h - self.tpl.page["margin_bottom"] + 14
        y_text = y_rule + size + 4
        self.ops.append(("l", self.st["rule_color"], 0.6, self.x0, y_rule, self.x1, y_rule))
        left = _fill(footer.get("left"), values)
        right = _fill(footer.get("right"), values)
        if right and self.width_of(left, False, size) + self.width_of(right, False, size) + 20 > self.width:
            right = ""  # a long school name: the report id comes first
        self.ops.append(("t", self.fonts["regular"], size, self.st["muted_color"], self.x0, y_text, left, "l"))
        if right:
            self.ops.append(("t", self.fonts["regular"], size, self.st["muted_color"], self.x1, y_text, right, "r"))


def _layout(
    data: ReportData, values: dict[str, str], tpl: Template, fonts: dict[str, str], scale: float, max_rows: int | None
) -> list[tuple]:
    lay = _Layout(tpl, fonts, scale, max_rows)
    for block in tpl.blocks:
        kind = block["kind"]
        if kind == "header":
            lay.header(block, values)
        elif kind == "fields":
            lay.fields(block, values)
        elif kind == "paragraph":
            lay.paragraph_block(block, values)
        elif kind == "scores":
            lay.scores(block, data, values)
        elif kind == "levels":
            lay.levels(block, data, values)
        elif kind == "advice":
            lay.advice(block, values)
    lay.footer(tpl.footer, values)
    return lay.ops


def _fit(data: ReportData, values: dict[str, str], tpl: Template, fonts: dict[str, str]) -> list[tuple]:
    """Full size when it fits; else everything smaller, step by step; at the smallest scale,
    long tables are cut with a line saying how many parts were left out."""
    scale = 1.0
    low = float(tpl.page.get("min_scale", 0.5))
    while True:
        try:
            return _layout(data, values, tpl, fonts, scale, None)
        except _Overflow:
            if scale <= low:
                break
            scale = max(low, round(scale - 0.05, 2))
    rows = max(len(data.scores) + 1, len(data.referentieniveaus))
    while rows > 1:
        rows = rows * 3 // 4
        try:
            return _layout(data, values, tpl, fonts, low, rows)
        except _Overflow:
            continue
    raise ValueError("the report does not fit on one page even at the smallest size; shorten the template's texts")


# -- rendering ----------------------------------------------------------------------------------------------------


def render_report(data: ReportData, template: Template | None = None) -> bytes:
    """One A4 page of PDF for one pupil."""
    tpl = template or load_template()
    fonts = ensure_fonts()
    values = _values(data, tpl)
    ops = _fit(data, values, tpl, fonts)
    pdf = _write_direct(ops, tpl)
    return pdf if pdf is not None else _write_reportlab(ops, tpl, fonts)


# -- the PDF file, written directly -----------------------------------------------------------------------------
#
# Every report has the same structure: one page, two embedded TrueType fonts, one content
# stream. Written here directly: the page's drawing operators, compressed, between objects whose
# numbers never change. Each font is embedded as a subset whose first 128 codes are ASCII (so
# ASCII text is its own encoding) and whose codes 128-255 hold the other characters the report
# uses, in order. That subset (font program, widths, ToUnicode map for text extraction) depends
# only on which non-ASCII characters occur, so it is made once and reused for every report with
# the same ones (most reports: the template's own). reportlab still measures the text and makes
# the subsets (its subsetter); a report with more than 128 different non-ASCII characters in one
# font goes through reportlab's canvas instead.

_OBJ_CATALOG, _OBJ_PAGES, _OBJ_PAGE, _OBJ_CONTENT, _OBJ_INFO = 1, 2, 3, 4, 5
_FONT_BASE = {"regular": 6, "bold": 10}  # font, descriptor, font file, ToUnicode: 4 objects each
_OBJ_COUNT = 14


_PDF_NUMBERS: dict[float, str] = {}


def _pdf_number(value: float) -> str:
    """A number as PDF writes it (three decimals at most). Remembered: the template's positions,
    sizes and colours come back in every report (it was 8 % of rendering one)."""
    text = _PDF_NUMBERS.get(value)
    if text is None:
        text = f"{value:.3f}".rstrip("0").rstrip(".")
        if text in ("-0", ""):
            text = "0"
        if len(_PDF_NUMBERS) > 20_000:
            _PDF_NUMBERS.clear()
        _PDF_NUMBERS[value] = text
    return text


def _pdf_text_string(value: str) -> bytes:
    if value.isascii():
        return b"(" + value.encode("ascii").replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)") + b")"
    return b"<FEFF" + value.encode("utf-16-be").hex().upper().encode("ascii") + b">"


@dataclass(frozen=True)
class _EmbeddedFont:
    """One font's four PDF objects for one set of non-ASCII characters, and how text is encoded."""

    objects: bytes  # the serialized objects, numbered from the font's base
    table: dict[int, int]  # code point -> byte, for characters outside ASCII


@functools.lru_cache(maxsize=512)
def _embedded_font(name: str, base: int, extra: tuple[int, ...]) -> _EmbeddedFont:
    import zlib

    face = pdfmetrics.getFont(name).face
    subset = list(range(128)) + list(extra)
    program = face.makeSubset(subset)
    tag = "".join(chr(ord("A") + (b % 26)) for b in zlib.crc32(bytes(str((name, extra)), "utf-8")).to_bytes(4, "big") * 2)[:6]
    base_font = f"{tag}+{face.name.decode('latin-1') if isinstance(face.name, bytes) else face.name}"
    widths = " ".join(str(face.getCharWidth(c)) for c in subset)
    flags = (face.flags & ~32) | 4  # symbolic, as for every embedded subset
    cmap_lines = [f"<{i:02X}> <{c:04X}>" for i, c in enumerate(subset) if c >= 32 and c != 127]
    cmap = "\n".join(
        [
            "/CIDInit /ProcSet findresource begin", "12 dict begin", "begincmap",
            f"/CIDSystemInfo << /Registry ({tag}) /Ordering ({tag}) /Supplement 0 >> def",
            f"/CMapName /{tag} def", "/CMapType 2 def",
            "1 begincodespacerange", f"<00> <{len(subset) - 1:02X}>", "endcodespacerange",
        ]
        + [part for start in range(0, len(cmap_lines), 100)
           for part in (f"{len(cmap_lines[start:start + 100])} beginbfchar", *cmap_lines[start:start + 100], "endbfchar")]
        + ["endcmap", "CMapName currentdict /CMap defineresource pop", "end", "end"]
    ).encode("ascii")  # fmt: skip
    bbox = " ".join(str(v) for v in face.bbox)
    packed_program = zlib.compress(program, ZLIB_LEVEL)
    packed_cmap = zlib.compress(cmap, ZLIB_LEVEL)
    out = [
        f"{base} 0 obj\n<< /Type /Font /Subtype /TrueType /BaseFont /{base_font} /FirstChar 0 /LastChar {len(subset) - 1}"
        f" /Widths [{widths}] /FontDescriptor {base + 1} 0 R /ToUnicode {base + 3} 0 R >>\nendobj\n".encode("latin-1"),
        f"{base + 1} 0 obj\n<< /Type /FontDescriptor /FontName /{base_font} /Flags {flags} /FontBBox [{bbox}]"
        f" /ItalicAngle {face.italicAngle} /Ascent {face.ascent} /Descent {face.descent} /CapHeight {face.capHeight}"
        f" /StemV {face.stemV} /MissingWidth {face.defaultWidth} /FontFile2 {base + 2} 0 R >>\nendobj\n".encode("latin-1"),
        f"{base + 2} 0 obj\n<< /Length {len(packed_program)} /Length1 {len(program)} /Filter /FlateDecode >>\nstream\n".encode("ascii")
        + packed_program + b"\nendstream\nendobj\n",
        f"{base + 3} 0 obj\n<< /Length {len(packed_cmap)} /Filter /FlateDecode >>\nstream\n".encode("ascii")
        + packed_cmap + b"\nendstream\nendobj\n",
    ]
    return _EmbeddedFont(b"".join(out), {c: 128 + i for i, c in enumerate(extra)})


def _write_direct(ops: list[tuple], tpl: Template) -> bytes | None:
    import zlib

    page_w, page_h = tpl.page["size"]
    style_of = {FONT_NAMES["regular"]: "regular", FONT_NAMES["bold"]: "bold"}
    extra: dict[str, set[int]] = {"regular": set(), "bold": set()}
    for op in ops:
        if op[0] == "t":
            style = style_of.get(op[1])
            if style is None:
                return None
            extra[style].update(ord(c) for c in op[6] if ord(c) > 127 and c != "\xa0")
    faces = {style: pdfmetrics.getFont(FONT_NAMES[style]).face for style in extra}
    embedded = {}
    for style, chars in extra.items():
        known = tuple(sorted(c for c in chars if c in faces[style].charToGlyph))
        if len(known) > 128:
            return None
        embedded[style] = _embedded_font(FONT_NAMES[style], _FONT_BASE[style], known)
    n = _pdf_number
    out: list[str] = []
    fill = stroke = width = None
    for op in ops:  # backgrounds first, then rules, then all text in one text object
        if op[0] == "r":
            _, colour, x, y, w, h = op
            if colour != fill:
                out.append(f"{n(colour[0])} {n(colour[1])} {n(colour[2])} rg")
                fill = colour
            out.append(f"{n(x)} {n(page_h - y - h)} {n(w)} {n(h)} re f")
    for op in ops:
        if op[0] == "l":
            _, colour, line_width, x1, y1, x2, y2 = op
            if colour != stroke:
                out.append(f"{n(colour[0])} {n(colour[1])} {n(colour[2])} RG")
                stroke = colour
            if line_width != width:
                out.append(f"{n(line_width)} w")
                width = line_width
            out.append(f"{n(x1)} {n(page_h - y1)} m {n(x2)} {n(page_h - y2)} l S")
    content = "\n".join(out).encode("ascii")
    text_ops: list[bytes] = [b"\nBT"]
    font_now = colour_now = None
    for op in ops:
        if op[0] != "t":
            continue
        _, font, size, colour, x, y, string_, align = op
        style = style_of[font]
        if (font, size) != font_now:
            # TL: T* after each text moves a line down, so extraction puts each text on its own line
            text_ops.append(f"/F{1 if style == 'regular' else 2} {n(size)} Tf {n(size * 1.2)} TL".encode("ascii"))
            font_now = (font, size)
        if colour != colour_now:
            text_ops.append(f"{n(colour[0])} {n(colour[1])} {n(colour[2])} rg".encode("ascii"))
            colour_now = colour
        if align == "r":
            x -= _width(string_, font) * size
        table = embedded[style].table
        if string_.isascii():
            raw = string_.encode("ascii")
        else:
            raw = bytes(32 if c == "\xa0" else (ord(c) if ord(c) < 128 else table.get(ord(c), 0)) for c in string_)
        raw = raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)").replace(b"\r", b"\\r")
        text_ops.append(f"1 0 0 1 {n(x)} {n(page_h - y)} Tm (".encode("ascii") + raw + b") Tj T*")
    text_ops.append(b"ET")
    stream = zlib.compress(content + b"\n".join(text_ops), ZLIB_LEVEL)
    lang = tpl.page.get("lang")
    objects = {
        _OBJ_CATALOG: b"<< /Type /Catalog /Pages 2 0 R" + (b" /Lang " + _pdf_text_string(lang) if lang else b"") + b" >>",
        _OBJ_PAGES: b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        _OBJ_PAGE: (
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {n(page_w)} {n(page_h)}] /Contents 4 0 R"
            f" /Resources << /Font << /F1 {_FONT_BASE['regular']} 0 R /F2 {_FONT_BASE['bold']} 0 R >> /ProcSet [/PDF /Text] >> >>"
        ).encode("ascii"),
        _OBJ_CONTENT: f"<< /Length {len(stream)} /Filter /FlateDecode >>\nstream\n".encode("ascii") + stream + b"\nendstream",
        _OBJ_INFO: b"<< /Title " + _pdf_text_string(tpl.page.get("title", "Leerlingrapport")) + b" /Creator (eduketen) /Producer (eduketen) >>",
    }
    buffer = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = [0] * _OBJ_COUNT
    for number in (_OBJ_CATALOG, _OBJ_PAGES, _OBJ_PAGE, _OBJ_CONTENT, _OBJ_INFO):
        offsets[number] = len(buffer)
        buffer += b"%d 0 obj\n" % number + objects[number] + b"\nendobj\n"
    for style in ("regular", "bold"):
        base = _FONT_BASE[style]
        font_objects = embedded[style].objects
        start = len(buffer)
        for k in range(4):
            offsets[base + k] = start + font_objects.index(b"%d 0 obj\n" % (base + k))
        buffer += font_objects
    xref = len(buffer)
    buffer += b"xref\n0 %d\n0000000000 65535 f \n" % _OBJ_COUNT
    for number in range(1, _OBJ_COUNT):
        buffer += b"%010d 00000 n \n" % offsets[number]
    buffer += b"trailer\n<< /Size %d /Root 1 0 R /Info 5 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (_OBJ_COUNT, xref)
    return bytes(buffer)


def _write_reportlab(ops: list[tuple], tpl: Template, fonts: dict[str, str]) -> bytes:
    """The same page through reportlab's canvas (for what the direct writer does not take)."""
    page_w, page_h = tpl.page["size"]
    buffer = io.BytesIO()
    canvas = Canvas(
        buffer, pagesize=(page_w, page_h), pageCompression=1, invariant=1, lang=tpl.page.get("lang"),
        initialFontName=fonts["regular"], initialFontSize=10,
    )  # fmt: skip
    canvas.setTitle(tpl.page.get("title", "Leerlingrapport"))
    canvas.setCreator("eduketen")
    # backgrounds first, then rules, then all text in one text object (fewer PDF operators)
    fill = stroke = width = None
    for op in ops:
        if op[0] == "r":
            _, colour, x, y, w, h = op
            if colour != fill:
                canvas.setFillColorRGB(*colour)
                fill = colour
            canvas.rect(x, page_h - y - h, w, h, stroke=0, fill=1)
    for op in ops:
        if op[0] == "l":
            _, colour, line_width, x1, y1, x2, y2 = op
            if colour != stroke:
                canvas.setStrokeColorRGB(*colour)
                stroke = colour
            if line_width != width:
                canvas.setLineWidth(line_width)
                width = line_width
            canvas.line(x1, page_h - y1, x2, page_h - y2)
    text = canvas.beginText()
    font_now = colour_now = None
    for op in ops:
        if op[0] == "t":
            _, font, size, colour, x, y, string_, align = op
            if (font, size) != font_now:
                text.setFont(font, size)
                font_now = (font, size)
            if colour != colour_now:
                text.setFillColorRGB(*colour)
                colour_now = colour
            if align == "r":
                x -= _width(string_, font) * size
            text.setTextOrigin(x, page_h - y)
            text.textLine(string_)
    canvas.drawText(text)
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def report_text(data: ReportData, template: Template | None = None) -> str:
    """The same content as the PDF, as plain text from the same template (for a screen reader,
    an e-mail, or the benchmark's baseline)."""
    tpl = template or load_template()
    values = _values(data, tpl)
    empty = _fill(tpl.text["empty_value"], values)
    out: list[str] = []
    for block in tpl.blocks:
        kind = block["kind"]
        if kind == "header":
            out.append(_fill(block["title"], values))
            if values["resultaat_versie"].lower() == "voorlopig" and block.get("voorlopig"):
                out.append(_fill(block["voorlopig"], values))
            subtitle = block["subtitle"] if values["schooljaar"] else block.get("subtitle_without_year", block["subtitle"])
            out.append(_fill(subtitle, values))
        elif kind == "fields":
            for label, value, *_flags in block["rows"]:
                if _complete(value, values) and _fill(value, values):
                    out.append(f"{_fill(label, values)}: {_fill(value, values)}")
        elif kind == "paragraph":
            out.append(_fill(block["text"], values))
        elif kind == "scores":
            out.append("")
            out.append(_fill(block["heading"], values))
            columns = block["columns"]
            rows = [(_fill(block["total_label"], values), data.toetsscore, data.aantal_goed, data.aantal_opgaven, data.percentielscore)]
            rows += [("  " * r.diepte + r.onderdeel, r.score, r.aantal_goed, r.aantal_opgaven, r.percentielscore) for r in data.scores]
            keys = ("score", "aantal_goed", "aantal_opgaven", "percentielscore")
            shown = [i for i, _k in enumerate(keys) if any(_clean(row[i + 1]) for row in rows)]
            if not shown:
                out.append(_fill(block["empty"], values))
                continue
            out.append(" | ".join([_fill(columns["onderdeel"], values)] + [_fill(columns[keys[i]], values) for i in shown]))
            for row in rows:
                if any(_clean(row[i + 1]) for i in shown):
                    out.append(" | ".join([row[0].replace(row[0].lstrip(), _clean(row[0]))] + [_clean(row[i + 1]) or empty for i in shown]))
                elif row is not rows[0]:
                    out.append(row[0])
        elif kind == "levels":
            out.append("")
            out.append(_fill(block["heading"], values))
            if block.get("intro"):
                out.append(_fill(block["intro"], values))
            if not data.referentieniveaus:
                out.append(_fill(block["empty"], values))
            explanations = block.get("explanations", {})
            for r in data.referentieniveaus:
                niveau = _clean(r.niveau)
                uitleg = explanations.get(niveau) or explanations.get(niveau.upper()) or block.get("unknown", "")
                out.append(f"{_clean(r.onderdeel)}: {niveau} – {_fill(uitleg, values)}")
        elif kind == "advice":
            out.append("")
            out.append(_fill(block["heading"], values))
            text = _fill(block["text"], values) if _complete(block["text"], values) else ""
            out.append(text or _fill(block["empty"], values))
            if block.get("note"):
                out.append(_fill(block["note"], values))
    out.append("")
    out += [t for t in (_fill(tpl.footer.get("left"), values), _fill(tpl.footer.get("right"), values)) if t]
    return "\n".join(out) + "\n"


# -- from the wire message ----------------------------------------------------------------------------------------


def _afnamedatum(value: Any) -> date | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        return moment.date()
    if moment.astimezone(UTC).time() == datetime.min.time():
        return moment.astimezone(UTC).date()  # "only the date is known" (T00:00:00Z)
    try:
        from zoneinfo import ZoneInfo

        return moment.astimezone(ZoneInfo("Europe/Amsterdam")).date()
    except Exception:  # noqa: BLE001 - no time zone data: the UTC date
        return moment.astimezone(UTC).date()


def _walk(parts: list[dict] | None, parent: str | None = None):
    for part in parts or []:
        if isinstance(part, dict) and part.get("id"):
            yield str(part["id"]), part.get("omschrijving"), parent
            yield from _walk(part.get("toetsonderdelen"), str(part["id"]))


def report_data_from_leerlingresultaat(
    message: dict,
    school_name: str,
    brin: str | None,
    *,
    roepnaam: str | None,
    achternaam: str | None,
    voorvoegsel: str | None = None,
    geboortedatum: date | None = None,
    rapport_id: str | None = None,
) -> ReportData:
    """The report's content from a wire ``Leerlingresultaat`` and the pupil's identity (which the
    message does not hold: it names the pupil only by ECK-iD or LAS-key)."""
    from eduketen.doorstroomtoets.resultaten import PARENT, part_name

    rs = message.get("resultatenscores") or {}
    toets = message.get("toets") or {}
    order: dict[str, int] = {}
    names: dict[str, str] = {}
    parents: dict[str, str | None] = {}
    for code, omschrijving, parent in _walk(toets.get("toetsonderdelen")):
        order.setdefault(code, len(order))
        if omschrijving:
            names.setdefault(code, str(omschrijving))
        parents.setdefault(code, parent)

    def name_of(code: str) -> str:
        return names.get(code) or part_name(code)

    total: dict[str, str] = {}
    per_part: dict[str, dict[str, str]] = {}
    for score in (rs.get("scores") or {}).get("scores") or []:
        label, unit, value = score.get("label"), score.get("toetseenheid"), score.get("waarde")
        key = {"Toetsscore": "score", "Detailscore": "score", "Aantal goed": "aantal_goed", "Aantal opgaven": "aantal_opgaven"}.get(label)
        if key is None or value is None:
            continue
        target = per_part.setdefault(str(unit), {}) if unit else total
        target.setdefault(key, str(value))
    advies = percentiel = None
    niveaus: list[NiveauRegel] = []
    for result in (rs.get("resultaten") or {}).get("resultaten") or []:
        label, unit, value = result.get("label"), result.get("toetseenheid"), result.get("waarde")
        if value is None:
            continue
        if label == "Toetsadvies" and advies is None:
            advies = str(value)
        elif label == "Percentielscore":
            if unit:
                per_part.setdefault(str(unit), {}).setdefault("percentielscore", str(value))
            elif percentiel is None:
                percentiel = str(value)
        elif label == "Referentieniveau" and unit:
            niveaus.append(NiveauRegel(name_of(str(unit)), str(value)))
    known = len(order)
    codes = sorted(per_part, key=lambda c: order.get(c, known + list(per_part).index(c)))

    def depth(code: str) -> int:
        """Indented once for every ancestor that has its own line in the table."""
        n, seen = 0, {code}
        parent = parents.get(code, PARENT.get(code))
        while parent is not None and parent not in seen:
            n += parent in per_part
            seen.add(parent)
            parent = parents.get(parent, PARENT.get(parent))
        return n

    scores = [
        ScoreRegel(
            onderdeel=name_of(code),
            score=values.get("score"),
            aantal_goed=values.get("aantal_goed"),
            aantal_opgaven=values.get("aantal_opgaven"),
            percentielscore=values.get("percentielscore"),
            diepte=depth(code),
        )
        for code, values in ((c, per_part[c]) for c in codes)
    ]
    if rapport_id is None:
        url = (rs.get("resultaten") or {}).get("aanvullendeinfo") or ""
        rapport_id = url.rstrip("/").rsplit("/", 1)[-1] if url else str(rs.get("id") or "")
    return ReportData(
        school_name=school_name,
        brin=brin,
        roepnaam=roepnaam,
        voorvoegsel=voorvoegsel,
        achternaam=achternaam,
        geboortedatum=geboortedatum,
        rapport_id=rapport_id,
        toets_naam=str(toets.get("naam") or toets.get("id") or ""),
        toets_id=toets.get("id"),
        afnamedatum=_afnamedatum(((rs.get("afnamecontext") or {}).get("afname") or {}).get("afnametijdstip")),
        schooljaar=message.get("schooljaar"),
        toetsscore=total.get("score"),
        aantal_goed=total.get("aantal_goed"),
        aantal_opgaven=total.get("aantal_opgaven"),
        percentielscore=percentiel,
        scores=scores,
        referentieniveaus=niveaus,
        toetsadvies=advies,
        resultaat_versie=rs.get("versie"),
    )


def render_for_result(message: dict, *, school: Any, identity: Any, rapport_id: str) -> bytes:
    """The report for a stored result (test supplier worker): ``school`` has ``name`` and
    ``brin``, ``identity`` the pupil's names and birth date (or is None when not known)."""
    data = report_data_from_leerlingresultaat(
        message,
        getattr(school, "name", "") or "",
        getattr(school, "brin", None),
        roepnaam=getattr(identity, "roepnaam", None),
        voorvoegsel=getattr(identity, "voorvoegsel", None),
        achternaam=getattr(identity, "achternaam", None),
        geboortedatum=getattr(identity, "geboortedatum", None),
        rapport_id=rapport_id,
    )
    return render_report(data)
