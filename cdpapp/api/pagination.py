from rest_framework import pagination


class PageNumberPagination(pagination.PageNumberPagination):
    """Page-number pagination with `count`, `next`, `previous`, `results`; `?page_size=` to 500."""

    page_size_query_param = "page_size"
    max_page_size = 500
