"""Attention of the caption decoder (the method's Figure 9, and the same claim measured over a split).

Captured from the real generation pass: ``generate(output_attentions=True, return_dict_in_generate=True)`` returns
the decoder's self-attention (after softmax) of every step; a decoder that is not an encoder-decoder model to
``generate`` (BLIP's) has its cross-attention dropped, so the model family's hooks
(:meth:`blip_pose.models.CaptionerFamily.cross_attention`) record those probabilities during the same call.
Nothing of the model is re-implemented.

Rows are the tokens the decoder *writes*: row ``t`` is the step that wrote token ``t`` and holds its attention over
tokens ``0..t-1`` (BOS first), so every row sums to 1. Layers and heads are numbered from 1 as in the write-up
("the 8th head"): ``--layer 12 --head 8`` is index 11 and 7. A token belongs to joint j when its text lies in the
span the caption parser read for j (:func:`blip_pose.pose_format.joint_spans`).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch
from PIL import Image
from tqdm.auto import tqdm

from blip_pose.analysis.common import write_json
from blip_pose.generation import encode_images, generate_from_embeds
from blip_pose.keypoints import DEFAULT_SPEC, KeypointSpec
from blip_pose.models import DecoderLayout, family_for_config
from blip_pose.pose_format import joint_spans, parse_pixels
from blip_pose.predictor import PosePredictor

#: The head the method's Figure 9 shows (1-based), used by default when the model has that many heads.
PAPER_HEAD = 8


@dataclass
class TokenAttention:
    """One generated caption with the attention that wrote it (selected layer and head).

    ``tokens``/``labels``: BOS first; ``labels[t]`` the joint id of token t or None. ``self_attention``: (T, T),
    row t = attention of the step that wrote token t over tokens 0..t-1 (row 0, BOS, is empty).
    ``cross_attention``: (T, 1 + patches) attention of the same steps over the image (class embedding first).
    """

    caption: str
    tokens: list[str]
    labels: list[int | None]
    self_attention: np.ndarray
    cross_attention: np.ndarray


def select(attention: torch.Tensor, layer: int, head: int | None) -> torch.Tensor:
    """(layers, heads, ...) -> (...): 1-based ``layer``, 1-based ``head`` or None for the mean of the heads."""
    layers, heads = attention.shape[:2]
    if not 1 <= layer <= layers:
        raise ValueError(f"--layer must be 1..{layers} (the text decoder has {layers} layers), got {layer}")
    if head is not None and not 1 <= head <= heads:
        raise ValueError(f"--head must be 1..{heads} or 'mean' (the decoder has {heads} heads per layer), got {head}")
    chosen = attention[layer - 1]
    return chosen.mean(0) if head is None else chosen[head - 1]


def layout(predictor: PosePredictor) -> DecoderLayout:
    """The decoder's layers and heads and the image's patch grid, as the model's family reads its config."""
    return family_for_config(predictor.model.config).decoder_layout(predictor.model.config)


def default_head(predictor: PosePredictor) -> int | None:
    """The method's 8th head, or the mean when the model has fewer heads (the tiny presets have 2)."""
    return PAPER_HEAD if layout(predictor).heads >= PAPER_HEAD else None


def token_spans(tokenizer, ids: Sequence[int]) -> tuple[str, list[tuple[int, int]]]:
    """The decoded caption and each token's ``[start, end)`` in it (leading space excluded; empty for special
    tokens), by decoding growing prefixes: the decode that produced the caption is the one measured."""
    caption, spans, previous = "", [], ""
    for k in range(len(ids)):
        text = tokenizer.decode(list(ids[: k + 1]), skip_special_tokens=True)
        if not text.startswith(previous):
            raise ValueError(f"decoding token {k} rewrote the text before it ({previous!r} -> {text!r})")
        start = len(previous) + len(text[len(previous) :]) - len(text[len(previous) :].lstrip())
        spans.append((start, len(text)))
        previous = caption = text
    return caption, spans


def token_labels(
    caption: str, spans: Sequence[tuple[int, int]], column: str, spec: KeypointSpec = DEFAULT_SPEC
) -> list[int | None]:
    """The joint each token belongs to: its text lies inside the span the parser read for that joint."""
    joints = joint_spans(caption, column, spec=spec)
    labels: list[int | None] = []
    for a, b in spans:
        inside = [j for j, s in enumerate(joints) if s is not None and b > a and s[0] <= a and b <= s[1]]
        labels.append(inside[0] if inside else None)
    return labels


@torch.inference_mode()
def generate_with_attention(
    predictor: PosePredictor, frames: Sequence[Image.Image], layer: int | None, head: int | None
) -> list[TokenAttention]:
    """Greedy captions of model-input frames and their attention (``layer`` None: the last), generated as the
    predictor generates them (:meth:`~blip_pose.predictor.PosePredictor.generation_kwargs`: same length limit and
    caption grammar), so the attention explains the captions the model writes."""
    model, tokenizer = predictor.model, predictor.processor.tokenizer
    family = family_for_config(model.config)
    layers = family.decoder_layout(model.config).layers
    layer = layer or layers
    cross: list[list[torch.Tensor]] = [[] for _ in range(layers)]
    hooks = family.cross_attention(model, lambda k, probs: cross[k].append(probs.float().cpu()))
    try:  # the predictor's own generation (length, beams, caption grammar): the captions the model really writes
        out: Any = generate_from_embeds(  # a GenerateDecoderOnlyOutput (return_dict_in_generate)
            model,
            encode_images(model, predictor.pixel_values(frames)),
            **{**predictor.generation_kwargs(), "num_beams": 1},
            output_attentions=True,
            return_dict_in_generate=True,
        )
    finally:
        for hook in hooks:
            hook.remove()
    attentions = out.decoder_attentions if hasattr(out, "decoder_attentions") else out.attentions  # seq2seq: ved
    steps = len(attentions)
    sep = family.end_token_id(model.config)
    results = []
    for b, sequence in enumerate(out.sequences.tolist()):
        length = sequence.index(sep) + 1 if sep in sequence else len(sequence)
        rows = min(length - 1, steps)
        self_att = np.zeros((rows + 1, rows + 1))
        cross_att = np.zeros((rows + 1, cross[0][0].shape[-1]))
        for s in range(rows):  # step s wrote token s + 1 from tokens 0..s
            per_layer = torch.stack([torch.as_tensor(a[b, :, -1, : s + 1]).float().cpu() for a in attentions[s]])
            self_att[s + 1, : s + 1] = select(per_layer, layer, head).numpy()
            cross_att[s + 1] = select(torch.stack([c[s][b, :, -1] for c in cross]), layer, head).numpy()
        ids = sequence[: rows + 1]
        caption, spans = token_spans(tokenizer, ids)
        tokens = tokenizer.convert_ids_to_tokens(ids)
        labels = token_labels(caption, spans, predictor.caption_column, predictor.spec)
        results.append(TokenAttention(caption, tokens, labels, self_att, cross_att))
    return results


def joint_matrix(attention: TokenAttention, spec: KeypointSpec = DEFAULT_SPEC) -> np.ndarray:
    """(K, K): [i, j] = mean over the tokens of joint i of the attention they pay to all tokens of joint j,
    where j was written before i; NaN otherwise (or where either joint was not read)."""
    labels = np.array([-1 if label is None else label for label in attention.labels])
    k = spec.num_keypoints
    out = np.full((k, k), np.nan)
    for i in range(k):
        rows = np.flatnonzero(labels == i)
        if not rows.size:
            continue
        for j in range(k):
            cols = np.flatnonzero(labels == j)
            if j != i and cols.size and cols.max() < rows.min():
                out[i, j] = attention.self_attention[np.ix_(rows, cols)].sum(1).mean()
    return out


def graph_distance(spec: KeypointSpec = DEFAULT_SPEC) -> np.ndarray:
    """(K, K) hops between joints along the spec's skeleton."""
    dist = np.full((spec.num_keypoints, spec.num_keypoints), np.inf)
    np.fill_diagonal(dist, 0)
    for a, b in spec.skeleton:
        dist[a, b] = dist[b, a] = 1
    for k in range(spec.num_keypoints):  # Floyd-Warshall: K joints (16 for MPII)
        dist = np.minimum(dist, dist[:, k : k + 1] + dist[k : k + 1, :])
    return dist


def neighbour_summary(matrix: np.ndarray, spec: KeypointSpec = DEFAULT_SPEC) -> dict:
    """Mean attention by graph distance, and how often a joint's most attended earlier joint is a neighbour
    (with the share expected if it were picked at random among the earlier joints)."""
    dist = graph_distance(spec)
    defined = np.isfinite(matrix)
    by_distance = {int(d): float(matrix[defined & (dist == d)].mean()) for d in np.unique(dist[defined])}
    hits, chance, joints = 0, 0.0, 0
    for i in range(spec.num_keypoints):
        earlier = np.flatnonzero(defined[i])
        if earlier.size:
            joints += 1
            hits += int(dist[i, earlier[np.argmax(matrix[i, earlier])]] == 1)
            chance += float((dist[i, earlier] == 1).mean())
    return {
        "mean_attention_by_graph_distance": by_distance,
        "top_earlier_joint_is_neighbour": hits / joints if joints else None,
        "chance_top_is_neighbour": chance / joints if joints else None,
        "joints_with_earlier_joints": joints,
    }


def attention_figures(
    predictor: PosePredictor,
    frames: Sequence[Image.Image],
    names: Sequence[str],
    out: Path,
    *,
    layer: int | None = None,
    head: int | str | None = None,
    batch_size: int = 8,
    example: int = 0,
) -> list[Path]:
    """``attention_tokens.png`` (the example's token heatmap), ``attention_image.png`` (its cross-attention per
    joint), ``attention_joints.png`` (joint-to-joint matrix over all frames vs skeleton distance), and
    ``attention.json``."""
    text = layout(predictor)
    layer = layer or text.layers
    head_index = default_head(predictor) if head is None else None if head == "mean" else int(head)
    select(torch.zeros(text.layers, text.heads), layer, head_index)  # bad choice: fail now
    results: list[TokenAttention] = []
    for start in tqdm(range(0, len(frames), batch_size), desc="attention", unit="batch", leave=False):
        results += generate_with_attention(predictor, frames[start : start + batch_size], layer, head_index)
    spec = predictor.spec
    matrices = np.stack([joint_matrix(r, spec) for r in results])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # pairs no image defines stay NaN
        matrix = np.nanmean(matrices, axis=0)
    counts = np.isfinite(matrices).sum(0)
    summary = neighbour_summary(matrix, spec)
    chosen = results[example]
    where = f"layer {layer}/{text.layers}, " + (
        "mean of heads" if head_index is None else f"head {head_index}/{text.heads}"
    )
    paths = [
        _token_heatmap(chosen, where, out / "attention_tokens.png", spec),
        _image_maps(chosen, frames[example], predictor, where, out / "attention_image.png"),
        _joint_plot(matrix, summary, where, len(results), out / "attention_joints.png", spec),
    ]
    data = {
        "layer": layer,
        "head": "mean" if head_index is None else head_index,
        "numbering": "1-based layers and heads",
        "rows": "token written at that step; columns: the tokens before it",
        "example": {
            "image": names[example],
            "caption": chosen.caption,
            "tokens": chosen.tokens,
            "joint_of_token": [None if j is None else spec.captions[j] for j in chosen.labels],
            "self_attention": chosen.self_attention.round(5),
            "cross_attention": chosen.cross_attention.round(5),
        },
        "images": len(results),
        "joint_to_joint": {"joints": list(spec.captions), "mean": matrix, "images_per_pair": counts},
        "graph_distance": graph_distance(spec),
        **summary,
    }
    return [*paths, write_json(out / "attention.json", data)]


def _token_heatmap(att: TokenAttention, where: str, path: Path, spec: KeypointSpec) -> Path:
    labels = [
        f"{tok} ({spec.captions[j]})" if j is not None and k == att.labels.index(j) else tok
        for k, (tok, j) in enumerate(zip(att.tokens, att.labels))
    ]
    n = len(labels)
    size = min(24, max(6, n * 0.12))
    fig, ax = plt.subplots(figsize=(size + 1.5, size))
    image = ax.imshow(att.self_attention, cmap="viridis")
    font = max(4, min(9, 600 // max(n, 1)))
    ax.set_xticks(range(n), labels, rotation=90, fontsize=font)
    ax.set_yticks(range(n), labels, fontsize=font)
    for k in range(1, n):  # a thin line where the joint of the tokens changes
        if att.labels[k] != att.labels[k - 1]:
            ax.axhline(k - 0.5, color="white", linewidth=0.3)
            ax.axvline(k - 0.5, color="white", linewidth=0.3)
    ax.set(xlabel="attended token", ylabel="token being written", title=f"Decoder self-attention, {where}")
    fig.colorbar(image, ax=ax, fraction=0.03)
    return _save(fig, path)


def _image_maps(att: TokenAttention, frame: Image.Image, predictor: PosePredictor, where: str, path: Path) -> Path:
    side = layout(predictor).patch_grid
    if side is None:
        raise ValueError("this model family's image tokens are no square patch grid: no per-joint image maps")
    labels = np.array([-1 if j is None else j for j in att.labels])
    sizes = np.array([frame.size], dtype=np.float64)
    spec = predictor.spec
    xy = parse_pixels([att.caption], predictor.caption_column, sizes, spec=spec)[0][0]
    side_n = math.ceil(math.sqrt(spec.num_keypoints))  # 4 x 4 for MPII's 16 joints
    fig, axes = plt.subplots(side_n, side_n, figsize=(3 * side_n, 3 * side_n), squeeze=False)
    for j, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if j >= spec.num_keypoints:
            continue
        ax.imshow(frame)
        rows = np.flatnonzero(labels == j)
        if not rows.size:
            ax.set_title(f"{spec.captions[j]}: not written", fontsize=9)
            continue
        patches = att.cross_attention[rows, 1:].mean(0).reshape(side, side)  # class embedding left out
        ax.imshow(patches, cmap="inferno", alpha=0.55, extent=(0, frame.width, frame.height, 0))
        ax.scatter(*xy[j], marker="x", color="cyan", s=60)  # where the caption put the joint
        ax.set_title(f"{spec.captions[j]} ({rows.size} tokens; x: written position)", fontsize=9)
    fig.suptitle(f"Cross-attention to the image while writing each joint, {where}")
    return _save(fig, path)


def _joint_plot(matrix: np.ndarray, summary: dict, where: str, images: int, path: Path, spec: KeypointSpec) -> Path:
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5.5), gridspec_kw={"width_ratios": [1.3, 1]})
    image = left.imshow(matrix, cmap="viridis")
    left.set_xticks(range(spec.num_keypoints), spec.captions, rotation=90, fontsize=8)
    left.set_yticks(range(spec.num_keypoints), spec.captions, fontsize=8)
    for a, b in spec.skeleton:  # skeleton neighbours outlined
        for i, j in ((a, b), (b, a)):
            left.add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="red", linewidth=1))
    left.set(xlabel="earlier joint", ylabel="joint being written", title=f"Joint to joint ({images} images)")
    fig.colorbar(image, ax=left, fraction=0.04)
    by_distance = summary["mean_attention_by_graph_distance"]
    right.bar(list(by_distance), list(by_distance.values()), color="tab:blue")
    right.set(xlabel="skeleton graph distance (hops)", ylabel="mean attention", title="Attention vs distance")
    top, chance = summary["top_earlier_joint_is_neighbour"], summary["chance_top_is_neighbour"]
    if top is not None:
        right.text(
            0.98,
            0.95,
            f"top earlier joint is a neighbour: {top:.0%}\n(chance {chance:.0%})",
            transform=right.transAxes,
            ha="right",
            va="top",
        )
    fig.suptitle(f"Decoder self-attention, {where}; red boxes: skeleton neighbours")
    return _save(fig, path)


def _save(fig: plt.Figure, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
