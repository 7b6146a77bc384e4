"""Light curves: from image sequences to light curves to features."""

__all__: list[str] = []
