"""Checks on a source's settings, shared by the sources page and the REST API. Pure module."""

from typing import Any

import orjson

from profiles.domain.tracking_plan import PlanError, validate_plan

MIN_MESSAGE_BYTES = 1024
MAX_RATE_LIMIT_PER_SECOND = 100_000


def limit_errors(
    *, max_message_bytes: int, max_batch_bytes: int, rate_limit_per_second: int, hard_cap: int
) -> dict[str, str]:
    """What is wrong with a source's size and rate limits, by field name (empty when fine)."""
    errors: dict[str, str] = {}
    if max_batch_bytes > hard_cap:
        errors["max_batch_bytes"] = (
            f"At most {hard_cap} bytes: the server refuses any request body above that."
        )
    elif max_batch_bytes < MIN_MESSAGE_BYTES:
        errors["max_batch_bytes"] = f"At least {MIN_MESSAGE_BYTES} bytes."
    if max_message_bytes < MIN_MESSAGE_BYTES:
        errors["max_message_bytes"] = f"At least {MIN_MESSAGE_BYTES} bytes."
    elif max_message_bytes > max_batch_bytes:
        errors["max_message_bytes"] = (
            f"A message cannot be larger than the batch that carries it ({max_batch_bytes} bytes)."
        )
    if not 1 <= rate_limit_per_second <= MAX_RATE_LIMIT_PER_SECOND:
        errors["rate_limit_per_second"] = (
            f"Between 1 and {MAX_RATE_LIMIT_PER_SECOND} requests per second."
        )
    return errors


def parse_plan(text: str) -> dict[str, dict[str, str]]:
    """Parse a tracking plan typed as JSON text; raises PlanError with the line and column."""
    if not text.strip():
        return {}
    try:
        plan: Any = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise PlanError(
            f"Not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}."
        ) from None
    return validate_plan(plan)


def format_json(value: object) -> str:
    """JSON text for an editor: indented, keys in their stored order."""
    return orjson.dumps(value, option=orjson.OPT_INDENT_2).decode()
