"""Segment charts drawn with plotly's Python API: size over time, and overlaps.

The HTML references the global `Plotly` from our static plotly.min.js: no CDN, nothing inlined.
"""

import itertools
from datetime import timedelta

import plotly.graph_objects as go
import plotly.io as pio

from segments.models import SegmentSnapshot

SIZE_COLOUR = "#3a4fd8"
ENTERED_COLOUR = "#17804a"
EXITED_COLOUR = "#b42323"
_CONFIG = {"displaylogo": False, "responsive": True, "modeBarButtonsToRemove": ["lasso2d"]}
_LAYOUT = {
    "template": "plotly_white",
    "margin": {"l": 50, "r": 10, "t": 30, "b": 40},
    "legend": {"orientation": "h", "y": 1.12, "x": 1, "xanchor": "right"},
}


def _count_axis(values: list[int], **axis) -> dict:
    """An axis of whole numbers: below 6, plotly would put ticks at fractions, which ",d" prints
    as repeated integers (0, 0, 1, 1); tick every unit there instead."""
    small = max((abs(v) for v in values), default=0) < 6
    return {**axis, "tickformat": ",d", **({"dtick": 1} if small else {})}


def size_figure(snapshots: list[SegmentSnapshot]) -> go.Figure:
    """Members over time as a step line, with entries and exits per refresh as bars."""
    x = [snap.at for snap in snapshots]
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(x) if b > a]
    # Bars as wide as most of the smallest gap (ten minutes when there is one refresh).
    width_ms = max(60.0, min(gaps, default=600.0) * 0.7) * 1000
    figure = go.Figure()
    figure.add_bar(
        x=x,
        y=[s.entered for s in snapshots],
        width=width_ms,
        name="entered",
        marker_color=ENTERED_COLOUR,
        opacity=0.55,
        yaxis="y2",
    )
    figure.add_bar(
        x=x,
        y=[-s.exited for s in snapshots],
        width=width_ms,
        name="exited",
        marker_color=EXITED_COLOUR,
        opacity=0.55,
        yaxis="y2",
        customdata=[s.exited for s in snapshots],
        hovertemplate="%{x}: %{customdata} exited<extra></extra>",
    )
    figure.add_scatter(
        x=x,
        y=[s.size for s in snapshots],
        name="members",
        mode="lines+markers",
        line={"color": SIZE_COLOUR, "width": 2, "shape": "hv"},
    )
    span = timedelta(seconds=max(sum(gaps), 0))
    pad = max(span * 0.05, timedelta(minutes=30))
    figure.update_layout(
        **_LAYOUT,
        height=300,
        barmode="relative",
        xaxis={"type": "date", "range": [x[0] - pad, x[-1] + pad]},
        yaxis=_count_axis([s.size for s in snapshots], title="members", rangemode="tozero"),
        yaxis2=_count_axis(
            [s.entered for s in snapshots] + [s.exited for s in snapshots],
            title="entered / exited",
            overlaying="y",
            side="right",
            showgrid=False,
        ),
    )
    return figure


def size_chart_html(snapshots: list[SegmentSnapshot], *, div_id: str) -> str:
    """The size chart as an HTML fragment, or "" when there is nothing to draw yet."""
    if not snapshots:
        return ""
    return pio.to_html(
        size_figure(snapshots),
        include_plotlyjs=False,
        full_html=False,
        div_id=div_id,
        default_height="300px",
        config=_CONFIG,
    )


def overlap_figure(names: list[str], matrix: list[list[int]]) -> go.Figure:
    """Pairwise shared members as a heatmap (the diagonal is each segment's size)."""
    figure = go.Figure(
        go.Heatmap(
            z=matrix,
            x=names,
            y=names,
            text=[[f"{v:,}" for v in row] for row in matrix],
            texttemplate="%{text}",
            colorscale="Blues",
            showscale=False,
            hovertemplate="%{y} ∩ %{x}: %{z:,}<extra></extra>",
        )
    )
    size = max(260, 70 * len(names) + 120)
    figure.update_layout(
        **_LAYOUT,
        height=size,
        yaxis={"autorange": "reversed", "automargin": True},
        xaxis={"side": "bottom", "automargin": True},
    )
    return figure


def overlap_chart_html(names: list[str], matrix: list[list[int]], *, div_id: str) -> str:
    """The overlap heatmap as an HTML fragment."""
    height = max(260, 70 * len(names) + 120)
    return pio.to_html(
        overlap_figure(names, matrix),
        include_plotlyjs=False,
        full_html=False,
        div_id=div_id,
        default_height=f"{height}px",
        config=_CONFIG,
    )
