"""Small SVG charts drawn on the server (no JavaScript, no CDN: the panel works offline).

Each function returns an ``<svg>`` element as `Markup`; every text in it is escaped.  Colours
come from the CSS classes in app.css (``chart-training``, ``chart-upload``...), so the charts
follow the page's style; a <title> in each mark gives its figure on hover.
"""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

WIDTH, HEIGHT = 260, 90
PAD = 4
STATUS_CLASS = {"ok": "chart-ok", "warning": "chart-warning", "alert": "chart-alert", "unknown": "chart-unknown"}


def _svg(width: int, height: int, label: str, body: str) -> Markup:
    return Markup(f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
                  f'role="img" aria-label="{escape(label)}"><title>{escape(label)}</title>{body}</svg>')


def distribution(labels: Sequence[str], training: Sequence[float], upload: Sequence[float], label: str) -> Markup:
    """Two bars per bin or category: the training share (grey) and the upload's (blue)."""
    n = max(len(training), 1)
    slot = (WIDTH - 2 * PAD) / n
    top = max([*training, *upload, 0.01])
    usable = HEIGHT - 2 * PAD - 10
    parts = []
    for i in range(len(training)):
        x = PAD + i * slot
        for offset, share, css, who in ((0.1, training[i], "chart-training", "training"),
                                        (0.5, upload[i] if i < len(upload) else 0.0, "chart-upload", "this file")):
            h = usable * share / top
            y = HEIGHT - PAD - 10 - h
            tip = f"{labels[i] if i < len(labels) else i}: {who} {share:.1%}"
            parts.append(f'<rect class="{css}" x="{x + offset * slot:.1f}" y="{y:.1f}" width="{slot * 0.4:.1f}" '
                         f'height="{max(h, 0.5):.1f}"><title>{escape(tip)}</title></rect>')
    parts.append(f'<line class="chart-axis" x1="{PAD}" y1="{HEIGHT - PAD - 10}" x2="{WIDTH - PAD}" '
                 f'y2="{HEIGHT - PAD - 10}"/>')
    if labels:
        parts.append(f'<text class="chart-text" x="{PAD}" y="{HEIGHT - 2}">{escape(_short(labels[0]))}</text>')
        parts.append(f'<text class="chart-text" x="{WIDTH - PAD}" y="{HEIGHT - 2}" text-anchor="end">'
                     f'{escape(_short(labels[-1]))}</text>')
    return _svg(WIDTH, HEIGHT, label, "".join(parts))


def bin_labels(edges: Sequence[float]) -> list[str]:
    """'<= 324', '324-397', ..., '> 1185' for decile edges."""
    if not edges:
        return ["all"]
    shown = [f"{e:.4g}" for e in edges]
    return [f"<= {shown[0]}"] + [f"{a}-{b}" for a, b in zip(shown, shown[1:])] + [f"> {shown[-1]}"]


def _short(text: str, limit: int = 18) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def series(values: Sequence[float | None], labels: Sequence[str], label: str, *,
           limits: Sequence[tuple[float, str]] = (), statuses: Sequence[str] = (), percent: bool = False,
           width: int = WIDTH, height: int = 70) -> Markup:
    """A line over the jobs (oldest first) with dots coloured by status, and dashed lines at
    `limits` (value, css class), e.g. the PSI thresholds."""
    known = [v for v in values if v is not None]
    top = max([*known, *(v for v, _ in limits), 0.01]) * 1.1
    n = len(values)
    step = (width - 2 * PAD) / max(n - 1, 1)

    def xy(i: int, v: float) -> tuple[float, float]:
        return PAD + i * step if n > 1 else width / 2, height - PAD - (height - 2 * PAD) * v / top

    parts = []
    for value, css in limits:
        _, y = xy(0, value)
        parts.append(f'<line class="chart-limit {css}" x1="{PAD}" y1="{y:.1f}" x2="{width - PAD}" y2="{y:.1f}"/>')
    points = [xy(i, v) for i, v in enumerate(values) if v is not None]
    if len(points) > 1:
        parts.append('<polyline class="chart-line" points="' + " ".join(f"{x:.1f},{y:.1f}" for x, y in points) + '"/>')
    for i, v in enumerate(values):
        if v is None:
            continue
        x, y = xy(i, v)
        css = STATUS_CLASS.get(statuses[i], "chart-upload") if i < len(statuses) else "chart-upload"
        figure = f"{v:.1%}" if percent else f"{v:.3f}"
        parts.append(f'<circle class="{css}" cx="{x:.1f}" cy="{y:.1f}" r="3"><title>'
                     f'{escape(labels[i] if i < len(labels) else str(i))}: {figure}</title></circle>')
    return _svg(width, height, label, "".join(parts))


def stacked(shares: Sequence[dict[str, float]], labels: Sequence[str], label: str,
            width: int = WIDTH, height: int = 70) -> Markup:
    """One bar per job, split by predicted class (its share of the job's predictions)."""
    classes = sorted({c for s in shares for c in s})
    n = max(len(shares), 1)
    slot = (width - 2 * PAD) / n
    parts = []
    for i, job in enumerate(shares):
        y = float(height - PAD)
        for k, name in enumerate(classes):
            h = (height - 2 * PAD) * job.get(name, 0.0)
            y -= h
            tip = f"{labels[i] if i < len(labels) else i}: {name} {job.get(name, 0.0):.1%}"
            parts.append(f'<rect class="chart-class-{k % 4}" x="{PAD + i * slot + slot * 0.1:.1f}" y="{y:.1f}" '
                         f'width="{slot * 0.8:.1f}" height="{h:.1f}"><title>{escape(tip)}</title></rect>')
    return _svg(width, height, label, "".join(parts))
