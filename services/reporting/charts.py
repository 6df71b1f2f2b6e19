"""Charts of a statistic (bars: a count per category) and of a trend (lines: a value per date),
as SVG, PNG and inside a report's PDF: plain Python.

One layout (`layout`) turns a chart into shapes (rectangles, lines, polylines, text) in a
top-left coordinate system; three small painters draw the same shapes: SVG as XML text, PNG
with Pillow, PDF with the streamed writer of formats.py. So the web application, the PNG in a
letter and the PDF show the same figures drawn the same way. reportlab's own PNG renderer
needs an extra package (rlPyCairo) we do not carry; matplotlib would be a large dependency
for bar and line charts. Labels in Bahasa Indonesia; numbers with a dot for thousands."""

from __future__ import annotations

import io
from dataclasses import dataclass
from xml.sax.saxutils import escape

from reportlab.pdfbase.pdfmetrics import stringWidth

#: series colours (colour-blind-safe palette, Okabe-Ito)
PALETTE = ((0.0, 0.447, 0.698), (0.902, 0.624, 0.0), (0.0, 0.620, 0.451),
           (0.8, 0.475, 0.655), (0.337, 0.706, 0.914), (0.835, 0.369, 0.0),
           (0.941, 0.894, 0.259))
WIDTH, HEIGHT = 900, 500
MAX_CATEGORIES = 60
#: rows read for one chart (a forecast per year and OPD adds up to a few categories)
MAX_ROWS = 5000
MAX_SERIES = len(PALETTE)


@dataclass(frozen=True)
class Chart:
    """`kind` "bar" (categories) or "line" (a trend: categories are dates in order);
    `series`: (name, values) with one value per category (None: no value)."""

    kind: str
    title: str
    categories: list[str]
    series: list[tuple[str, list[float | None]]]
    y_title: str = "Jumlah"


def number(value: float) -> str:
    """1234567 -> "1.234.567"; 12.5 -> "12,5" (Indonesian)."""
    if float(value).is_integer():
        return f"{int(value):,}".replace(",", ".")
    return f"{value:,.1f}".replace(",", "_").replace(".", ",").replace("_", ".")


def _ticks(top: float) -> list[float]:
    """Round steps from 0 to at least `top`: about five of them."""
    if top <= 0:
        return [0, 1]
    raw = top / 5
    magnitude = 10 ** (len(str(int(raw))) - 1) if raw >= 1 else 1
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    if raw < 1:
        step = next(s for s in (0.1, 0.2, 0.25, 0.5, 1) if s >= raw)
    ticks, value = [0.0], 0.0
    while value < top:
        value += step
        ticks.append(round(value, 6))
    return ticks


def layout(chart: Chart, width: float = WIDTH, height: float = HEIGHT) -> list[tuple]:
    """The chart as shapes, origin top left:
    ("rect", x, y, w, h, colour), ("line", x1, y1, x2, y2, width, colour),
    ("poly", [(x, y)...], width, colour), ("text", x, y, text, size, anchor, bold)."""
    shapes: list[tuple] = []
    shapes.append(("text", width / 2, 22, chart.title, 14, "middle", True))
    legend_rows = 1 if len(chart.series) > 1 else 0
    left, right, top = 70, 20, 44 + legend_rows * 18
    rotate = len(chart.categories) > 8
    longest = max((stringWidth(c, "Helvetica", 9) for c in chart.categories), default=0)
    bottom = 40 + (min(longest, 120) * 0.7 if rotate else 0)
    plot_w, plot_h = width - left - right, height - top - bottom
    values = [v for _, vs in chart.series for v in vs if v is not None]
    ticks = _ticks(max(values, default=0))
    scale = plot_h / (ticks[-1] or 1)
    for tick in ticks:
        y = top + plot_h - tick * scale
        shapes.append(("line", left, y, left + plot_w, y, 0.5, (0.85, 0.85, 0.85)))
        shapes.append(("text", left - 6, y + 3, number(tick), 9, "end", False))
    shapes.append(("line", left, top + plot_h, left + plot_w, top + plot_h, 1, (0, 0, 0)))
    shapes.append(("line", left, top, left, top + plot_h, 1, (0, 0, 0)))
    shapes.append(("text", 14, top - 8, chart.y_title, 9, "start", False))
    count = max(len(chart.categories), 1)
    slot = plot_w / count
    for index, name in enumerate(chart.categories):
        x = left + slot * (index + 0.5)
        label = name if stringWidth(name, "Helvetica", 9) <= 120 else name[:20] + "\u2026"
        if rotate:
            shapes.append(("text", x, top + plot_h + 12, label, 8, "rotate", False))
        else:
            shapes.append(("text", x, top + plot_h + 14, label, 9, "middle", False))
    if chart.kind == "bar":
        group = slot * 0.8
        bar = group / max(len(chart.series), 1)
        for s, (_, vs) in enumerate(chart.series):
            colour = PALETTE[s % len(PALETTE)]
            for index, value in enumerate(vs):
                if not value:
                    continue
                x = left + slot * index + slot * 0.1 + bar * s
                h = value * scale
                shapes.append(("rect", x, top + plot_h - h, bar, h, colour))
                if len(chart.categories) * len(chart.series) <= 24:
                    shapes.append(("text", x + bar / 2, top + plot_h - h - 3, number(value), 8,
                                   "middle", False))
    else:
        for s, (_, vs) in enumerate(chart.series):
            colour = PALETTE[s % len(PALETTE)]
            points = [(left + slot * (i + 0.5), top + plot_h - v * scale)
                      for i, v in enumerate(vs) if v is not None]
            shapes.append(("poly", points, 2, colour))
            for x, y in points:
                shapes.append(("rect", x - 2.5, y - 2.5, 5, 5, colour))
    if legend_rows:
        x = left
        for s, (name, _) in enumerate(chart.series):
            colour = PALETTE[s % len(PALETTE)]
            shapes.append(("rect", x, 36, 10, 10, colour))
            shapes.append(("text", x + 14, 45, name, 9, "start", False))
            x += 34 + stringWidth(name, "Helvetica", 9) * 1.15
    return shapes


def _hex(colour: tuple) -> str:
    return "#" + "".join(f"{round(c * 255):02x}" for c in colour)


def svg(chart: Chart, width: float = WIDTH, height: float = HEIGHT) -> bytes:
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" font-family="Helvetica, Arial, sans-serif">',
             f"<title>{escape(chart.title)}</title>",
             f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>']
    for shape in layout(chart, width, height):
        kind = shape[0]
        if kind == "rect":
            _, x, y, w, h, colour = shape
            parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" '
                         f'fill="{_hex(colour)}"/>')
        elif kind == "line":
            _, x1, y1, x2, y2, w, colour = shape
            parts.append(f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" '
                         f'stroke="{_hex(colour)}" stroke-width="{w}"/>')
        elif kind == "poly":
            _, points, w, colour = shape
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
            parts.append(f'<polyline points="{path}" fill="none" stroke="{_hex(colour)}" '
                         f'stroke-width="{w}"/>')
        else:
            _, x, y, value, size, anchor, bold = shape
            weight = ' font-weight="bold"' if bold else ""
            if anchor == "rotate":
                parts.append(f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" '
                             f'text-anchor="end" transform="rotate(-45 {x:.1f} {y:.1f})">'
                             f"{escape(value)}</text>")
            else:
                parts.append(f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" '
                             f'text-anchor="{anchor}"{weight}>{escape(value)}</text>')
    parts.append("</svg>")
    return "\n".join(parts).encode()


def png(chart: Chart, width: int = WIDTH, height: int = HEIGHT) -> bytes:
    from PIL import Image, ImageDraw, ImageFont

    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    fonts: dict = {}

    def font(size):
        if size not in fonts:
            fonts[size] = ImageFont.load_default(size=size + 2)
        return fonts[size]

    def rgb(colour):
        return tuple(round(c * 255) for c in colour)

    for shape in layout(chart, width, height):
        kind = shape[0]
        if kind == "rect":
            _, x, y, w, h, colour = shape
            draw.rectangle([x, y, x + max(w, 1), y + max(h, 1)], fill=rgb(colour))
        elif kind == "line":
            _, x1, y1, x2, y2, w, colour = shape
            draw.line([x1, y1, x2, y2], fill=rgb(colour), width=max(1, round(w)))
        elif kind == "poly":
            _, points, w, colour = shape
            if len(points) > 1:
                draw.line(points, fill=rgb(colour), width=max(1, round(w)))
        else:
            _, x, y, value, size, anchor, _bold = shape
            if anchor == "rotate":
                label = Image.new("RGBA", (int(stringWidth(value, "Helvetica", size)) + 12,
                                           size + 6), (255, 255, 255, 0))
                ImageDraw.Draw(label).text((0, 0), value, fill="black", font=font(size))
                label = label.rotate(45, expand=True)
                image.paste(label, (int(x - label.width), int(y - 4)), label)
                continue
            pil_anchor = {"middle": "ms", "end": "rs", "start": "ls"}[anchor]
            draw.text((x, y), value, fill="black", font=font(size), anchor=pil_anchor)
    buffer = io.BytesIO()
    image.save(buffer, "PNG", optimize=True)
    return buffer.getvalue()


def draw_pdf(chart: Chart, page, x0: float, y0: float, width: float, height: float) -> None:
    """The chart on a formats.Page, in the box whose bottom-left corner is (x0, y0)."""
    def fy(y):
        return y0 + height - y

    for shape in layout(chart, width, height):
        kind = shape[0]
        if kind == "rect":
            _, x, y, w, h, colour = shape
            page.rect(x0 + x, fy(y + h), w, h, fill=colour, stroke=False)
        elif kind == "line":
            _, x1, y1, x2, y2, w, colour = shape
            page.line(x0 + x1, fy(y1), x0 + x2, fy(y2), w, colour)
        elif kind == "poly":
            _, points, w, colour = shape
            page.polyline([(x0 + x, fy(y)) for x, y in points], w, colour)
        else:
            _, x, y, value, size, anchor, bold = shape
            align = {"middle": "center", "end": "right", "start": "left",
                     "rotate": "right"}[anchor]
            page.text(x0 + x, fy(y), value, size, bold=bold, align=align)


@dataclass(frozen=True)
class ChartSpec:
    """How a report's rows are drawn: the columns whose values name a category (joined), the
    numeric columns drawn (a series each) — or one value split into a series per value of
    `series_by`; rows falling on the same category and series are added up (a forecast per
    year and OPD drawn per year)."""

    category: tuple[str, ...]
    values: tuple[str, ...]
    series_by: str | None = None
    kind: str = "bar"


def default_spec(columns: list) -> ChartSpec:
    """A report that says nothing: its first column names the categories (a date column: a
    trend, lines), each int or percent column is a series."""
    numeric = tuple(c.key for c in columns if c.kind in ("int", "percent"))
    return ChartSpec((columns[0].key,), numeric,
                     kind="line" if columns[0].kind == "date" else "bar")


def _label(value) -> str:
    if value is None:
        return "(kosong)"
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def from_report(title: str, columns: list, rows: list[tuple],
                spec: ChartSpec | None = None) -> Chart:
    """The chart of a statistic's rows as `spec` (else `default_spec`) says. Raises
    ValueError when there is nothing numeric to draw, or too many rows, categories or series
    to draw legibly (the message says to narrow the filter)."""
    spec = spec or default_spec(columns)
    index = {c.key: i for i, c in enumerate(columns)}
    if not spec.values:
        raise ValueError("laporan ini tidak memiliki kolom angka untuk digambar")
    if len(rows) > MAX_ROWS:
        raise ValueError(f"terlalu banyak baris untuk grafik (lebih dari {MAX_ROWS}): "
                         "persempit filter")
    cells: dict[str, dict[str, float | None]] = {}
    names: dict[str, None] = {}
    for row in rows:
        label = " · ".join(_label(row[index[k]]) for k in spec.category)
        pairs = ([(_label(row[index[spec.series_by]]), row[index[spec.values[0]]])]
                 if spec.series_by else
                 [(columns[index[k]].title, row[index[k]]) for k in spec.values])
        slot = cells.setdefault(label, {})
        for name, value in pairs:
            names.setdefault(name)
            if value is not None:
                slot[name] = (slot.get(name) or 0.0) + float(value)
            else:
                slot.setdefault(name, None)
    if len(cells) > MAX_CATEGORIES:
        raise ValueError(f"terlalu banyak kategori untuk grafik ({len(cells)}; maksimal "
                         f"{MAX_CATEGORIES}): persempit filter")
    if len(names) > MAX_SERIES:
        raise ValueError(f"terlalu banyak seri untuk grafik ({len(names)}; maksimal "
                         f"{MAX_SERIES}): persempit filter")
    series = [(name, [cells[label].get(name) for label in cells]) for name in names]
    kinds = {columns[index[k]].kind for k in spec.values}
    return Chart(spec.kind, title, list(cells), series,
                 "Persen" if kinds == {"percent"} else "Jumlah")
