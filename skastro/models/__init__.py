"""Trained models shipped with skastro (:func:`load_pretrained`)."""

from ._pretrained import list_pretrained, load_pretrained, model_card, save_pretrained

__all__ = ["list_pretrained", "load_pretrained", "model_card", "save_pretrained"]
