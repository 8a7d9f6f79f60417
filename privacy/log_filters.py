"""Logging filters that keep personal data out of the logs."""

import logging


class DropTemplateLookupDetails(logging.Filter):
    """For the django.template logger: Django logs every failed variable lookup at DEBUG with
    the exception, whose message is the repr of the whole template context, so a page showing
    a person would put their traits in the log. The message (variable and template names)
    stays; the exception goes."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.exc_info = None
        record.exc_text = None
        return True
