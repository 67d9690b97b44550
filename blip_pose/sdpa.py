"""``--attn_implementation``: the model's own (eager) attention, or torch's fused SDPA where the family has it.

transformers runs some families (BLIP, in 5.x) in eager attention only and refuses ``attn_implementation="sdpa"``,
so :func:`use_sdpa` asks the model's family (:meth:`blip_pose.models.CaptionerFamily.use_sdpa`) to switch its
attention modules in place to :func:`torch.nn.functional.scaled_dot_product_attention` (fused kernels, no
materialised attention matrix on GPU; same projections, masks and cache as the eager code).
"""

from __future__ import annotations

from transformers import PreTrainedModel

from blip_pose.models import family_for_config

#: Where ``--attn_implementation`` may point.
ATTENTION_IMPLEMENTATIONS = ("eager", "sdpa")


def use_sdpa(model: PreTrainedModel) -> int:
    """Switch every attention module of ``model`` to SDPA in place; returns how many were switched."""
    return family_for_config(model.config).use_sdpa(model)


def set_attention(model: PreTrainedModel, implementation: str) -> None:
    """``--attn_implementation``: ``eager`` (the model's own code) or ``sdpa`` (:func:`use_sdpa`)."""
    if implementation not in ATTENTION_IMPLEMENTATIONS:
        raise ValueError(f"attn_implementation must be one of {ATTENTION_IMPLEMENTATIONS}, got {implementation!r}")
    if implementation == "sdpa":
        use_sdpa(model)
