"""A run's checked inputs (splits, references, records, generation budget): shared by ``training/run.py`` and
``training/sweep.py`` so both check and size things by one rule."""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

from datasets import Dataset, DatasetDict
from transformers import PretrainedConfig, Seq2SeqTrainingArguments
from transformers.processing_utils import ProcessorMixin

from blip_pose.dataset_source import reports_pckh_table
from blip_pose.models import family_for_config
from blip_pose.run_record import DATASET_SOURCE_KEY
from blip_pose.training.arguments import DataArguments, ModelArguments, PoseTrainingArguments
from blip_pose.training.callbacks import RunRecord, run_config
from blip_pose.training.data import (
    DataError,
    References,
    checked_splits,
    dataset_keypoints,
    dataset_source,
    preprocessing_record,
    references,
)
from blip_pose.training.pixel_cache import model_inputs
from blip_pose.training.trainer import evaluation_grammar

#: Room for a generated caption beyond the longest reference, so a slightly longer guess is still parsed whole.
GENERATION_MARGIN_TOKENS = 8


class RunInputs(NamedTuple):
    train: Dataset
    eval: Dataset
    references: References  # of the evaluation split
    record: RunRecord  # preprocessing.json + run_config.json
    max_new_tokens: int  # longest caption + margin, within the decoder's positions

    def trainer_kwargs(
        self,
        processor: ProcessorMixin,
        model_config: PretrainedConfig,
        data_args: DataArguments,
        training_args: PoseTrainingArguments,
    ) -> dict[str, Any]:
        """What every :class:`PoseCaptionTrainer` of these inputs gets: model-ready splits (pixel cache when asked),
        the family's collator, the generation budget and the evaluation grammar."""
        columns = (data_args.caption_column, data_args.image_column)
        image_processor = processor.image_processor
        family = family_for_config(model_config)
        return {
            "train_dataset": model_inputs(self.train, *columns, image_processor, data_args.pixel_cache),
            "eval_dataset": model_inputs(self.eval, *columns, image_processor, data_args.pixel_cache),
            "data_collator": family.collator(processor, model_config, *columns),
            "processing_class": processor,
            "max_new_tokens": self.max_new_tokens,
            "grammar": evaluation_grammar(
                training_args,
                processor.tokenizer,
                data_args.caption_column,
                self.references,
                self.record.preprocessing.simple_joints,
                family.loc_vocabulary(processor.tokenizer),
            ),
        }


def resolved_dataset(source: str, config_name: str | None) -> dict[str, str | None]:
    """What ``run_config.json`` records of the dataset loaded: a local folder by its absolute path (an analysis run
    from another directory finds it), a Hub id as is, and the config it was loaded with."""
    path = Path(source)
    return {"path": str(path.resolve()) if path.exists() else source, "config_name": config_name}


def run_inputs(
    dataset: DatasetDict,
    source: str,
    processor: ProcessorMixin,
    model_config: PretrainedConfig,
    model_args: ModelArguments,
    data_args: DataArguments,
    training_args: Seq2SeqTrainingArguments,
) -> RunInputs:
    """Check the splits (columns, captions, images) and derive what training and evaluation need from them."""
    columns = (data_args.caption_column, data_args.image_column)
    tokenizer = processor.tokenizer
    positions = family_for_config(model_config).max_positions(model_config)
    max_tokens = data_args.max_caption_tokens or min(tokenizer.model_max_length, positions)
    loc = family_for_config(model_config).loc_vocabulary(tokenizer)
    train, evals, longest = checked_splits(dataset, data_args, tokenizer, max_tokens, loc)
    spec = dataset_keypoints(train, source)
    record = RunRecord(
        preprocessing_record(train, source, data_args.image_column, spec),
        run_config(model_args, data_args, training_args, resolved_dataset(source, data_args.dataset_config_name)),
        spec,
    )
    try:  # the recipe's simple joints must be keypoints of the dataset's set
        record.preprocessing.simple_ids(spec)
    except ValueError as err:
        raise DataError(f"dataset {source!r} ({spec.name} keypoints): {err}") from None
    recorded = dataset_source(train, source)
    record.config["data"][DATASET_SOURCE_KEY] = recorded  # "synthetic" wherever results show
    max_new_tokens = (training_args.generation_max_length or longest + GENERATION_MARGIN_TOKENS) - 1
    max_new_tokens = min(max_new_tokens, positions - 1)
    refs = references(evals, *columns, split=data_args.eval_split, spec=spec, pckh_table=reports_pckh_table(recorded))
    return RunInputs(train, evals, refs, record, max_new_tokens)
