from profiles.views.explorer import IndexView

__all__ = ["IndexView"]
