"""``PosePredictor``: a trained pose captioner as a function from images to K joints in the image's own pixels.

One path for a Hub id and a local folder: model and processor through ``from_pretrained``, the small JSON side files
(``preprocessing.json``, ``run_config.json``, ``keypoints.json``: the model's keypoint set, MPII-16 without it)
through :func:`huggingface_hub.hf_hub_download` or the folder. Each image is opened upright (EXIF honoured) and
made into the model's input frame exactly as in training (:class:`~blip_pose.geometry.Preprocessing`); the generated
caption is parsed and its points are mapped back with the inverse of that same box transform.

Coordinates are 0-based pixels of the upright original image: the top-left pixel is (0, 0) and a joint on the
image has ``0 <= x < width`` (:mod:`blip_pose.geometry`). Models trained on ``mpii_pose_caption`` learned MPII's
1-based labels minus 1, so predictions compare with mmpose-style 0-based MPII coordinates directly; add 1 to
compare with the raw MATLAB annotation file. ``person_boxes`` are given in the same 0-based pixels.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from PIL import Image, ImageOps
from transformers import LogitsProcessorList, PreTrainedModel
from transformers.processing_utils import ProcessorMixin

from blip_pose.checkpoint import local_or_hub
from blip_pose.constrained import CaptionGrammar
from blip_pose.generation import NaNScoresError, RefuseNaNScores, encode_loss_generate
from blip_pose.geometry import BoxTransform, Preprocessing, person_box_transform
from blip_pose.heatmap.predictor import frame_keypoints
from blip_pose.images import open_image, to_rgb
from blip_pose.keypoints import DEFAULT_SPEC, KEYPOINTS_FILE, KeypointSpec
from blip_pose.keypoints.mpii import MPII_SCALE_PX
from blip_pose.loc_tokens import has_loc_tokens
from blip_pose.model_files import load_model_files, optional_file
from blip_pose.models import family_for_config, model_family
from blip_pose.pose_format import DEFAULT_LOC_VOCABULARY, LOC, parse_pixels
from blip_pose.pose_format import caption_column as caption_column_entry
from blip_pose.pretrained import resolve_pretrained
from blip_pose.run_folder import PREPROCESSING_FILE, RUN_CONFIG_FILE
from blip_pose.run_record import caption_column_name, flatten_run_config, read_json

logger = logging.getLogger(__name__)

ImageInput = Image.Image | str | Path
#: A person box ``(x0, y0, x1, y1)`` in original pixels, or MPII's ``{"center": (x, y), "scale": s}``.
PersonBox = Sequence[float] | Mapping[str, Any]


@dataclass(frozen=True)
class JointPrediction:
    """One joint: caption ``name`` (``rankl``...), ``x``/``y`` in original pixels (None when not found)."""

    id: int
    name: str
    joint: str
    x: float | None
    y: float | None
    found: bool


@dataclass
class PosePrediction:
    """The pose of one image. ``width``/``height``: the upright original image the coordinates refer to."""

    joints: list[JointPrediction]
    caption: str
    width: int
    height: int
    source: str | None = None

    @property
    def xy(self) -> np.ndarray:
        """float (K, 2), NaN where not found."""
        return np.array([[np.nan, np.nan] if j.x is None else [j.x, j.y] for j in self.joints], dtype=np.float64)

    @property
    def found(self) -> np.ndarray:
        """bool (K,)."""
        return np.array([j.found for j in self.joints], dtype=bool)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: joints as ``{id, name, joint, x, y, found}`` (x, y null when not found)."""
        return {
            "image": self.source,
            "width": self.width,
            "height": self.height,
            "caption": self.caption,
            "joints": [asdict(j) for j in self.joints],
        }


def _joints(xy: np.ndarray, found: np.ndarray, spec: KeypointSpec) -> list[JointPrediction]:
    return [
        JointPrediction(
            j,
            spec.captions[j],
            spec.names[j],
            float(xy[j, 0]) if found[j] else None,
            float(xy[j, 1]) if found[j] else None,
            bool(found[j]),
        )
        for j in range(spec.num_keypoints)
    ]


def load_image(image: ImageInput) -> tuple[Image.Image, str | None]:
    """An upright RGB image and its name. Paths go through :func:`blip_pose.images.open_image` (bomb guard,
    corrupt files -> ImageError naming the file); PIL images get the same EXIF and mode handling."""
    if isinstance(image, Image.Image):
        return to_rgb(ImageOps.exif_transpose(image)), getattr(image, "filename", None) or None
    if isinstance(image, (str, Path)):
        return open_image(image, exif="transpose")[0], str(image)
    raise TypeError(f"expected a PIL image or a path, got {type(image).__name__}")


class PosePredictor:
    """Joints of one person per image, in the image's own 0-based pixels (top-left pixel (0, 0)).

    >>> pose = PosePredictor.from_pretrained("user/blip-mpii-pose")  # or a training output folder
    >>> pose("person.jpg").joints[0]
    JointPrediction(id=0, name='rankl', joint='right ankle', x=312.5, y=601.9, found=True)
    """

    def __init__(
        self,
        model: PreTrainedModel,
        processor: ProcessorMixin,
        preprocessing: Preprocessing,
        *,
        caption_column: str = "text",
        device: str | torch.device | None = None,
        dtype: str | torch.dtype | None = None,
        constrained: bool = True,
        spec: KeypointSpec = DEFAULT_SPEC,
    ) -> None:
        self.spec = spec  # the keypoint set the captions name
        self.caption_column = caption_column_entry(caption_column).name  # a coordinate column, or an error
        #: The model's loc tokens (its family's), read back in the project's spelling.
        self.loc = family_for_config(model.config).loc_vocabulary(processor.tokenizer)
        # loc_text needs the model's loc tokens; added <locN> tokens mark a loc_text model (a family's own do not).
        is_loc = caption_column_entry(caption_column).format is LOC
        loc = self.loc if is_loc else DEFAULT_LOC_VOCABULARY
        if is_loc != has_loc_tokens(processor.tokenizer, loc):
            tokens = "<locN>" if loc == DEFAULT_LOC_VOCABULARY else f"{loc.token(0)}..{loc.token(loc.bins - 1)}"
            raise ValueError(
                f"caption column {caption_column!r} does not fit the model: its tokenizer "
                f"{'lacks' if is_loc else 'has'} the {tokens} tokens that loc_text models (and only they) write"
            )
        self._set_model(model, processor, preprocessing, device, dtype)
        # Grammar-constrained decoding: every generated caption parses (built on first use: it scans the vocabulary).
        self.constrained = constrained
        self._grammar: CaptionGrammar | None = None
        #: Where the model came from (errors name it); from_pretrained sets the folder or Hub id.
        self.source = "the model"

    def _set_model(
        self,
        model: PreTrainedModel,
        processor: Any,
        preprocessing: Preprocessing,
        device: str | torch.device | None,
        dtype: str | torch.dtype | None,
    ) -> None:
        """The model on its device and in its dtype (both checked), its processor and the training preprocessing."""
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"device {str(self.device)!r}: CUDA is not available here (use --device cpu)")
        self.dtype = getattr(torch, dtype, None) if isinstance(dtype, str) else dtype or torch.float32
        if not isinstance(self.dtype, torch.dtype) or not self.dtype.is_floating_point:
            raise ValueError(f"dtype must be a floating torch dtype such as 'float16', got {dtype!r}")
        self.model = model.to(device=self.device, dtype=self.dtype).eval()  # type: ignore[call-arg]  # transformers' typed wrapper of nn.Module.to
        self.processor = processor
        self.preprocessing = preprocessing
        self._warned_no_box = False

    @classmethod
    def from_pretrained(
        cls,
        model_id: str | Path,
        *,
        device: str | torch.device | None = None,
        dtype: str | torch.dtype | None = None,
        caption_column: str | None = None,
        revision: str | None = None,
        cache_dir: str | Path | None = None,
        token: str | bool | None = None,
        constrained: bool = True,
    ) -> PosePredictor:
        """Load from a Hub id, a local folder (a training ``output_dir`` or a checkpoint) or ``pretrained:<name>``
        (a model shipped in this package, see :mod:`blip_pose.pretrained`), identically.

        Args:
            device: default ``cuda`` when available, else ``cpu``.
            dtype: e.g. ``"float16"`` or ``torch.bfloat16`` (default float32).
            caption_column: the caption column the model writes (a coordinate column of
                :data:`~blip_pose.pose_format.CAPTION_COLUMNS`); default: the run's in ``run_config.json``, else
                the model's own tokenizer says (``loc_text`` when it has the ``<locN>`` tokens, else ``text``).
            constrained: grammar-constrained decoding (:mod:`blip_pose.constrained`): every caption parses.
        """
        model_id = resolve_pretrained(str(model_id))  # "pretrained:tiny-pose": the model the package ships
        model_id = local_or_hub(model_id)  # a mistyped local path fails now, not after minutes of Hub retries
        hub: dict[str, Any] = {"revision": revision, "cache_dir": cache_dir, "token": token}
        processor, model = load_model_files(model_id, hub)
        spec_file = optional_file(model_id, KEYPOINTS_FILE, **hub)
        spec = DEFAULT_SPEC if spec_file is None else KeypointSpec.load(spec_file.parent)
        path = optional_file(model_id, PREPROCESSING_FILE, **hub)
        if path is None:
            logger.warning(
                "%s has no %s: assuming the published preprocessing (whole image resized to %d px); "
                "joints are wrong if the model was trained otherwise",
                model_id,
                PREPROCESSING_FILE,
                Preprocessing().image_size,
            )
            preprocessing = Preprocessing(simple_joints=spec.default_simple_joints)
        else:
            preprocessing = Preprocessing.load(path.parent, spec)
        if model_family(model.config.model_type).kind == "heatmap":
            predictor: PosePredictor = HeatmapPredictor(model, processor, preprocessing, device, dtype, spec)
            predictor.source = model_id
            return predictor
        if caption_column is None:
            run_config = optional_file(model_id, RUN_CONFIG_FILE, **hub)
            if run_config is not None:
                caption_column = caption_column_name(flatten_run_config(read_json(run_config)))
            else:
                caption_column = "loc_text" if has_loc_tokens(processor.tokenizer) else "text"
                logger.warning("%s has no %s: decoding %s captions", model_id, RUN_CONFIG_FILE, caption_column)
        try:
            predictor = cls(
                model,
                processor,
                preprocessing,
                caption_column=caption_column,
                device=device,
                dtype=dtype,
                constrained=constrained,
                spec=spec,
            )
        except ValueError as err:
            raise ValueError(f"{model_id}: {err}") from None
        predictor.source = model_id
        return predictor

    @property
    def caption_joints(self) -> list[int]:
        """Ids of the joints this model's captions write: its recorded simple subset for a simple column, else all."""
        return caption_column_entry(self.caption_column).joint_ids(self.preprocessing.simple_joints, spec=self.spec)

    def transform_for(self, width: int, height: int, person_box: PersonBox | None = None) -> BoxTransform:
        """The training transform of a ``width`` x ``height`` image (crop models: around ``person_box``)."""
        pre = self.preprocessing
        if pre.mode == "resize":
            return pre.transform(width, height)
        if person_box is None:
            if not self._warned_no_box:
                logger.warning("crop model without person boxes: using a centred square over each whole image")
                self._warned_no_box = True
            side = max(width, height)
            return pre.transform(width, height, (width / 2, height / 2), side / (MPII_SCALE_PX * pre.crop_padding))
        if isinstance(person_box, Mapping):
            return pre.transform(width, height, tuple(person_box["center"]), float(person_box["scale"]))
        return person_box_transform(pre, width, height, tuple(person_box))  # type: ignore[arg-type]

    def _checked_transform(self, image: Image.Image, box: PersonBox | None, name: str | None) -> BoxTransform:
        """:meth:`transform_for`, with a refused box (e.g. ``[0, 0, 1e9, 1e9]``) reported against its image."""
        try:
            return self.transform_for(image.width, image.height, box)
        except ValueError as err:
            raise ValueError(f"{name or 'image'}: person box {box}: {err}") from None

    def pixel_values(self, frames: Sequence[Image.Image]) -> torch.Tensor:
        """Model-input frames as the model's pixel tensor, on its device and in its dtype."""
        pixels = self.processor.image_processor(list(frames), return_tensors="pt")["pixel_values"]
        return pixels.to(device=self.device, dtype=self.dtype)

    def generation_kwargs(self) -> dict[str, Any]:
        """How this model writes captions: length limit, beams, and logits processors (the NaN check, then the
        caption grammar of its column and joint subset). The predictor and every analysis generate with these, so
        an analysis explains the captions the model really writes."""
        config = self.model.generation_config
        # A decoder's own generate (BLIP's) need not read the saved generation config: the limits are passed explicitly.
        max_new_tokens = config.max_new_tokens or self.processor.tokenizer.model_max_length
        processors = LogitsProcessorList([RefuseNaNScores()])
        if self.constrained:
            if self._grammar is None:
                size = self.preprocessing.image_size
                self._grammar = CaptionGrammar(
                    self.processor.tokenizer,
                    self.caption_column,
                    size,
                    size,
                    self.preprocessing.simple_joints,
                    spec=self.spec,
                    loc=self.loc,
                )
            max_new_tokens = max(max_new_tokens, self._grammar.max_new_tokens)  # the longest valid caption fits
            processors.append(self._grammar)
        return {"max_new_tokens": max_new_tokens, "num_beams": config.num_beams or 1, "logits_processor": processors}

    @torch.inference_mode()
    def generate(self, frames: list[Image.Image]) -> list[str]:
        """Captions of processed-frame images; the model sees only the image (never a caption prompt)."""
        try:
            out = encode_loss_generate(self.model, self.pixel_values(frames), **self.generation_kwargs())
        except NaNScoresError as err:
            raise NaNScoresError(f"{self.source}: {err}") from None
        assert out.sequences is not None
        return [self.loc.decode(c) for c in self.processor.batch_decode(out.sequences, skip_special_tokens=True)]

    def frame_joints(self, frames: list[Image.Image]) -> tuple[list[str], np.ndarray, np.ndarray]:
        """``(captions, xy (N, K, 2), found (N, K))`` of processed-frame images, joints in the frames' pixels (all
        missing where nothing parses; never raises). A heatmap model's predictor decodes its heatmaps instead."""
        captions = self.generate(frames)
        sizes = np.array([frame.size for frame in frames], dtype=np.float64).reshape(-1, 2)
        xy, found = parse_pixels(captions, self.caption_column, sizes, spec=self.spec)
        return captions, xy, found

    def predict_images(
        self,
        images: Sequence[Image.Image],
        person_boxes: Sequence[PersonBox | None] | None = None,
        sources: Sequence[str | None] | None = None,
        batch_size: int = 8,
    ) -> list[PosePrediction]:
        """Poses of upright RGB images (see :func:`load_image`), generated ``batch_size`` at a time."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        boxes = list(person_boxes) if person_boxes is not None else [None] * len(images)
        names = list(sources) if sources is not None else [None] * len(images)
        if len(boxes) != len(images) or len(names) != len(images):
            raise ValueError(f"{len(images)} images but {len(boxes)} person boxes and {len(names)} sources")
        results: list[PosePrediction] = []
        for start in range(0, len(images), batch_size):
            batch = images[start : start + batch_size]
            transforms = [
                self._checked_transform(im, box, name) for im, box, name in zip(batch, boxes[start:], names[start:])
            ]
            captions, xy, found = self.frame_joints([t.apply(im) for t, im in zip(transforms, batch)])
            results.extend(
                PosePrediction(_joints(t.inverse(p), f, self.spec), c, im.width, im.height, name)
                for c, p, f, t, im, name in zip(captions, xy, found, transforms, batch, names[start:])
            )
        return results

    def __call__(
        self,
        images: ImageInput | Sequence[ImageInput],
        batch_size: int = 8,
        person_boxes: PersonBox | Sequence[PersonBox | None] | None = None,
    ) -> PosePrediction | list[PosePrediction]:
        """Pose of one image (a PIL image or a path) or a list of poses for a list of images.

        ``person_boxes``: for crop models, one box per image (a single box for a single image). A file that cannot
        be read raises :class:`blip_pose.images.ImageError` naming it.
        """
        single = isinstance(images, (Image.Image, str, Path))
        items = cast("list[ImageInput]", [images] if single else list(images))  # type: ignore[arg-type]
        loaded = [load_image(image) for image in items]
        boxes = cast(
            "Sequence[PersonBox | None] | None", [person_boxes] if single and person_boxes is not None else person_boxes
        )
        results = self.predict_images([im for im, _ in loaded], boxes, [name for _, name in loaded], batch_size)
        return results[0] if single else results


class HeatmapPredictor(PosePredictor):
    """A heatmap model's predictor (:mod:`blip_pose.heatmap.predictor` decodes; ``caption`` is empty)."""

    def __init__(
        self,
        model: PreTrainedModel,
        processor: Any,
        preprocessing: Preprocessing,
        device: str | torch.device | None = None,
        dtype: str | torch.dtype | None = None,
        spec: KeypointSpec = DEFAULT_SPEC,
        flip_test: bool = True,
    ) -> None:
        self.spec, self.caption_column, self.flip_test = spec, "text", flip_test  # every joint, as ``text``
        self.constrained, self._grammar, self.source = False, None, "the model"
        self._set_model(model, processor, preprocessing, device, dtype)

    def generate(self, frames: list[Image.Image]) -> list[str]:
        raise NotImplementedError(f"{self.source} is a heatmap model: it writes no captions")

    def frame_joints(self, frames: list[Image.Image]) -> tuple[list[str], np.ndarray, np.ndarray]:
        flips = self.spec.flip_index if self.flip_test else None
        xy = frame_keypoints(self.model, self.processor, frames, flips, self.device, self.dtype)
        return [""] * len(frames), xy, np.isfinite(xy).all(-1)
