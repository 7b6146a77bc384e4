"""SExtractor-like per-object features measured on stamps."""

__all__: list[str] = []
