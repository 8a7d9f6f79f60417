"""A source's volume chart (events and failed events per bucket), drawn with plotly's Python API.

The HTML references the global `Plotly` from our static plotly.min.js: no CDN, nothing inlined.
"""

import plotly.graph_objects as go
import plotly.io as pio

from profiles.selectors.events import Unit, VolumePoint

EVENTS_COLOUR = "#3a4fd8"
FAILED_COLOUR = "#b42323"
_TICKS = {"hour": "%H:%M", "day": "%d %b"}
_HOVER = {"hour": "%d %b %H:%M UTC", "day": "%d %b %Y"}


def volume_figure(points: list[VolumePoint], *, unit: Unit, title: str) -> go.Figure:
    """Two bar series over the buckets: events stored and failed events received."""
    x = [point.at for point in points]
    hover = f"%{{x|{_HOVER[unit]}}}: %{{y}} %{{fullData.name}}<extra></extra>"
    figure = go.Figure()
    figure.add_bar(
        x=x,
        y=[point.events for point in points],
        name="events",
        marker_color=EVENTS_COLOUR,
        hovertemplate=hover,
    )
    figure.add_bar(
        x=x,
        y=[point.failed for point in points],
        name="failed",
        marker_color=FAILED_COLOUR,
        hovertemplate=hover,
    )
    figure.update_layout(
        template="plotly_white",
        title={"text": title, "font": {"size": 14}},
        barmode="group",
        height=260,
        margin={"l": 40, "r": 10, "t": 40, "b": 30},
        legend={"orientation": "h", "y": 1.12, "x": 1, "xanchor": "right"},
        xaxis={"tickformat": _TICKS[unit], "type": "date"},
        yaxis={"rangemode": "tozero", "tickformat": ",d"},
    )
    return figure


def volume_chart_html(points: list[VolumePoint], *, unit: Unit, title: str, div_id: str) -> str:
    """The chart as an HTML fragment (a div and the script that draws it)."""
    return pio.to_html(
        volume_figure(points, unit=unit, title=title),
        include_plotlyjs=False,
        full_html=False,
        div_id=div_id,
        default_height="260px",
        config={"displaylogo": False, "responsive": True, "modeBarButtonsToRemove": ["lasso2d"]},
    )
