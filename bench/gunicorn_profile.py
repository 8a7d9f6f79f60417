"""gunicorn settings for `bench/ingest.py --profile FILE`: cProfile one sync worker into FILE."""

import cProfile
import os

_profiler = cProfile.Profile()


def post_fork(server, worker):
    _profiler.enable()


def worker_exit(server, worker):
    _profiler.disable()
    _profiler.dump_stats(os.environ["BENCH_PROFILE"])
