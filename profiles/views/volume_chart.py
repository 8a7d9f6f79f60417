"""A source's volume chart (events and failed events per bucket), built with plotly's Python API.

The page draws the JSON with our static plotly.min.js (no CDN), loaded with `defer` so the page
shows before the 4 MB library is parsed.
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
    # plotly.js reads no UTC offsets: naive UTC datetimes, labelled UTC in the hover text.
    x = [point.at.replace(tzinfo=None) for point in points]
    highest = max((max(point.events, point.failed) for point in points), default=0)
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
        yaxis={"rangemode": "tozero", "separatethousands": True},
    )
    if highest <= 5:  # whole numbers only, and a visible axis when nothing arrived yet
        figure.update_yaxes(dtick=1, range=[0, max(highest, 1) + 0.5])
    return figure


def volume_chart_json(points: list[VolumePoint], *, unit: Unit, title: str) -> str:
    """The figure as plotly JSON ({"data", "layout"}), drawn by static/js/plotly-figures.js."""
    return pio.to_json(volume_figure(points, unit=unit, title=title))
