"""Grad-CAM (Selvaraju et al. 2017) for the CNN classifiers of skastro.nn."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["grad_cam"]


def _last_conv_output(module: nn.Module) -> nn.Module:
    if hasattr(module, "last_conv_activation"):
        return module.last_conv_activation()
    convs = [m for m in module.modules() if isinstance(m, nn.Conv2d)]
    if not convs:
        raise ValueError(
            f"{type(module).__name__} has no Conv2d layer; Grad-CAM needs a "
            "convolutional network or an explicit layer=."
        )
    return convs[-1]


def grad_cam(
    module: nn.Module,
    X: torch.Tensor | np.ndarray,
    *,
    layer: nn.Module | None = None,
    positive: bool = True,
    batch_size: int = 64,
    device: str = "cpu",
) -> np.ndarray:
    """Gradient-weighted class activation maps of a binary CNN.

    For each input, the feature maps A_k of ``layer`` are weighted by the
    spatial mean of the gradient of the output logit with respect to them,
    α_k = mean_ij ∂y/∂A_k,ij; the map is ReLU(Σ_k α_k A_k), upsampled
    bilinearly to the input size and divided by its maximum (Selvaraju et
    al. 2017, eqs. 1–2; Tanoglidis et al. (2021) Appendix B).

    Parameters
    ----------
    module : torch.nn.Module
        Network returning one logit per input (shape (n,) or (n, 1)),
        in evaluation mode during the computation (restored afterwards).
    X : tensor or ndarray of shape (n, channels, height, width)
        Inputs as the network takes them (already preprocessed).
    layer : torch.nn.Module, optional
        Layer whose output is explained; default the output of the last
        convolutional layer (with its activation, as Keras' ``Conv2D``).
    positive : bool, default=True
        Explain the positive class (the logit); False explains the negative
        class (minus the logit).
    batch_size : int, default=64
    device : str, default="cpu"

    Returns
    -------
    cams : ndarray of shape (n, height, width)
        Maps in [0, 1] (all zero where no location supports the class).
    """
    layer = _last_conv_output(module) if layer is None else layer
    X = torch.as_tensor(np.asarray(X, dtype=np.float32))
    store: dict[str, torch.Tensor] = {}

    def hook(_mod, _inp, out):
        out.retain_grad()
        store["act"] = out

    handle = layer.register_forward_hook(hook)
    was_training = module.training
    module.eval()
    cams = []
    try:
        for start in range(0, len(X), batch_size):
            xb = X[start : start + batch_size].to(device)
            with torch.enable_grad():
                module.zero_grad(set_to_none=True)
                logits = module(xb).reshape(-1)
                score = logits if positive else -logits
                score.sum().backward()
            act, grad = store["act"], store["act"].grad
            weights = grad.mean(dim=(2, 3), keepdim=True)
            cam = F.relu((weights * act).sum(dim=1, keepdim=True))
            cam = F.interpolate(
                cam, size=xb.shape[-2:], mode="bilinear", align_corners=False
            )[:, 0]
            peak = cam.flatten(1).max(dim=1).values.clamp_min(1e-12)
            cams.append((cam / peak[:, None, None]).detach().cpu().numpy())
    finally:
        handle.remove()
        module.zero_grad(set_to_none=True)
        module.train(was_training)
    return np.concatenate(cams, axis=0)
