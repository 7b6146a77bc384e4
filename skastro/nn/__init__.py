"""Deep estimators (skorch) and their plain ``torch.nn.Module`` networks.

Networks live in ``_modules`` files apart from their estimators, so they can
be tested and reused alone.
"""

__all__: list[str] = []
