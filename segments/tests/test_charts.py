"""The size chart's axes count whole profiles."""

from datetime import UTC, datetime, timedelta

from segments.charts import size_figure
from segments.models import SegmentSnapshot


def _snapshots(*rows):
    start = datetime(2026, 11, 1, tzinfo=UTC)
    return [
        SegmentSnapshot(at=start + timedelta(hours=i), size=size, entered=entered, exited=exited)
        for i, (size, entered, exited) in enumerate(rows)
    ]


def test_small_counts_tick_every_whole_number():
    layout = size_figure(_snapshots((1, 1, 0), (2, 2, 1))).layout
    assert layout.yaxis.dtick == 1 and layout.yaxis.tickformat == ",d"
    assert layout.yaxis2.dtick == 1 and layout.yaxis2.overlaying == "y"


def test_large_counts_leave_the_ticks_to_plotly():
    layout = size_figure(_snapshots((1_000, 1_000, 0), (1_200, 300, 100))).layout
    assert layout.yaxis.dtick is None and layout.yaxis.tickformat == ",d"
    assert layout.yaxis2.dtick is None
