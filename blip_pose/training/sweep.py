"""Table 3's sweep (batch size x learning rate x optimizer) with ``Trainer.hyperparameter_search``.

Each trial is a whole run in ``<output_dir>/<setting>/`` (checkpoints, predictions, plots, card) and ends by writing
its ``sweep_trial.json``; a sweep started again runs only the settings without one. The search space is one
categorical parameter, the setting's name, so that optuna's ``GridSampler`` (the embedded default) and Ray Tune's
``grid_search`` walk exactly the settings still to run, whether the design is the full grid or the method's
one-factor-at-a-time variants. A trial whose training loss turns non-finite stops early and is recorded as diverged.
"""

from __future__ import annotations

import itertools
import logging
import math
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm
from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments
from transformers.trainer import TRAINER_STATE_NAME
from transformers.trainer_utils import TrainOutput

from blip_pose.card import write_model_card
from blip_pose.run_record import read_json
from blip_pose.training.arguments import ConfigError
from blip_pose.training.callbacks import RunRecord, run_config
from blip_pose.training.evaluation import PoseMetrics
from blip_pose.training.plots import plot_training_curves, write_overlays
from blip_pose.training.sweep_figures import plot_factor, plot_train_validation
from blip_pose.training.sweep_results import DIVERGED, FINISHED, TrialResult, scores_from_history, write_results
from blip_pose.training.trainer import BlipCaptionTrainer, optimizer_cls_and_kwargs

logger = logging.getLogger(__name__)

DESIGNS = ("full", "paper")
BACKENDS = ("optuna", "ray")
#: Table 3's optimizer names as transformers' ``--optim`` values, for a project without its own ``--optimizer``.
OPTIM_VALUES = {"sgd": "sgd", "adam": "adam", "adamw": "adamw_torch"}
#: The three factors: setting attribute -> label prefix in figures and progress lines.
FACTORS = {"batch_size": "batch", "learning_rate": "lr", "optimizer": "optimizer"}


@dataclass
class SweepArguments:
    design: str = field(
        default="paper",
        metadata={
            "help": "full: every combination of the three lists; paper: the baseline and each one-factor variant."
        },
    )
    batch_sizes: list[int] = field(default_factory=lambda: [1, 2, 4], metadata={"help": "Table 3's batch sizes."})
    learning_rates: list[float] = field(default_factory=lambda: [5e-6, 2e-5, 5e-5])
    optimizers: list[str] = field(default_factory=lambda: ["sgd", "adam", "adamw"])
    baseline_batch_size: int = field(default=4, metadata={"help": "The setting the paper design varies around."})
    baseline_learning_rate: float = field(default=5e-5)
    baseline_optimizer: str = field(default="adamw")
    backend: str = field(
        default="optuna", metadata={"help": "optuna (trials in turn) or ray (Ray Tune, 1 GPU a trial)."}
    )
    ray_address: str | None = field(default=None, metadata={"help": "Ray cluster to join ('auto'); default: local."})
    max_trials: int | None = field(default=None, metadata={"help": "Run at most this many unfinished trials now."})

    def __post_init__(self) -> None:
        for name, value, allowed in (
            ("design", self.design, DESIGNS),
            ("backend", self.backend, BACKENDS),
            *(("optimizers", o, tuple(OPTIM_VALUES)) for o in [*self.optimizers, self.baseline_optimizer]),
        ):
            if value not in allowed:
                raise ConfigError(f"--{name}: {value!r} is not one of {', '.join(allowed)}")
        if not (self.batch_sizes and self.learning_rates and self.optimizers):
            raise ConfigError("--batch_sizes, --learning_rates and --optimizers each need at least one value")


@dataclass(frozen=True)
class Setting:
    batch_size: int
    learning_rate: float
    optimizer: str

    @property
    def name(self) -> str:
        return f"bs{self.batch_size}-lr{self.learning_rate:g}-{self.optimizer}"

    def label(self, factor: str) -> str:
        value = getattr(self, factor)
        return f"{FACTORS[factor]} {value:g}" if isinstance(value, float) else f"{FACTORS[factor]} {value}"

    def arguments(self, args: TrainingArguments) -> dict[str, Any]:
        """The training arguments this setting overrides (see :func:`optimizer_arguments`)."""
        return {
            "per_device_train_batch_size": self.batch_size,
            "learning_rate": self.learning_rate,
            **optimizer_arguments(self.optimizer, args),
        }


def optimizer_arguments(name: str, args: TrainingArguments) -> dict[str, str]:
    """Table 3's optimizer as training arguments: the project's ``--optimizer`` where the arguments have it,
    otherwise transformers' ``--optim`` (``adam`` being the project's value for plain Adam)."""
    return {"optimizer": name} if hasattr(args, "optimizer") else {"optim": OPTIM_VALUES[name]}


def design_settings(sweep: SweepArguments) -> list[Setting]:
    """``full``: the product of the three lists; ``paper``: the baseline, then each factor varied alone."""
    if sweep.design == "full":
        grid = itertools.product(sweep.batch_sizes, sweep.learning_rates, sweep.optimizers)
        return [Setting(*values) for values in grid]
    base = Setting(sweep.baseline_batch_size, sweep.baseline_learning_rate, sweep.baseline_optimizer)
    settings = [base]
    variants: tuple[tuple[str, Sequence[Any]], ...] = (
        ("batch_size", sweep.batch_sizes),
        ("learning_rate", sweep.learning_rates),
        ("optimizer", sweep.optimizers),
    )
    for factor, values in variants:
        settings += [replace(base, **{factor: v}) for v in values if v != getattr(base, factor)]
    return settings


@dataclass
class SweepPlan:
    """The design's settings, the ones left to run, and where everything goes."""

    root: Path
    design: str
    settings: list[Setting]
    todo: list[Setting]
    metric: str  # validation metric the search maximises, e.g. accuracy@25
    baseline: Setting

    @classmethod
    def make(cls, sweep: SweepArguments, args: TrainingArguments) -> SweepPlan:
        root = Path(str(args.output_dir))
        settings = design_settings(sweep)
        todo = [s for s in settings if TrialResult.load(root / s.name) is None]
        metric = (args.metric_for_best_model or "").removeprefix("eval_")
        if not metric or not args.greater_is_better:
            raise ConfigError("a sweep needs --metric_for_best_model (a score to maximise, e.g. accuracy@25)")
        if args.eval_strategy == "no":
            raise ConfigError("a sweep needs --eval_strategy epoch or steps: its curves and scores are evaluations")
        base = Setting(sweep.baseline_batch_size, sweep.baseline_learning_rate, sweep.baseline_optimizer)
        return cls(root, sweep.design, settings, todo[: sweep.max_trials], metric, base)

    def setting_of(self, trial: Any) -> Setting:
        """The setting an optuna trial (suggested once, the same on every call) or a Ray config names."""
        names = [s.name for s in self.todo]
        name = trial["setting"] if isinstance(trial, dict) else trial.suggest_categorical("setting", names)
        return next(s for s in self.todo if s.name == name)

    def results(self) -> list[TrialResult]:
        found = (TrialResult.load(self.root / s.name) for s in self.settings)
        return [result for result in found if result is not None]


class DivergenceCallback(TrainerCallback):
    """Stops a trial whose logged training loss or gradient norm is NaN or infinite (the sweep logs them unfiltered;
    a non-finite gradient norm means the weights are already lost)."""

    def __init__(self) -> None:
        self.diverged = False

    def on_train_begin(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs) -> None:
        self.diverged = False

    def on_log(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, logs: dict | None = None, **kwargs
    ) -> None:
        values = [logs[key] for key in ("loss", "grad_norm") if logs and logs.get(key) is not None]
        if not all(math.isfinite(value) for value in values):
            self.diverged = True
            control.should_training_stop = True


class SweepTrainer(BlipCaptionTrainer):
    """Runs each trial of ``hyperparameter_search`` as a whole run in its own folder and records its result."""

    objective: float | None  # what the search backends read after train(); the Trainer sets it too

    def __init__(
        self,
        *args: Any,
        plan: SweepPlan,
        record: RunRecord,
        run_arguments: tuple[Any, Any],
        overlays: tuple[Sequence, Any],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        if not isinstance(self.compute_metrics, PoseMetrics):
            raise TypeError("SweepTrainer scores with a PoseMetrics compute_metrics")
        self.pose_metrics = self.compute_metrics
        self.plan, self.record, self.run_arguments = plan, record, run_arguments
        self.overlay_images, self.eval_references = overlays
        self.divergence = DivergenceCallback()
        self.add_callback(self.divergence)
        self.trials_started = 0

    def search_space(self, trial: Any) -> dict[str, Any]:
        """Optuna: the trial's setting as training arguments. Ray (called with None): the grid to walk."""
        if trial is None:
            from ray import tune

            return {"setting": tune.grid_search([s.name for s in self.plan.todo])}
        return self.plan.setting_of(trial).arguments(self.args)

    def train(
        self,
        resume_from_checkpoint: str | bool | None = None,
        trial: Any = None,
        ignore_keys_for_eval: list[str] | None = None,
    ) -> TrainOutput:
        if trial is None:
            return super().train(resume_from_checkpoint, trial, ignore_keys_for_eval)
        setting = self.plan.setting_of(trial)
        if isinstance(trial, dict):  # Ray: the Trainer sets the arguments a config dict names
            trial = setting.arguments(self.args)
        folder = self.plan.root / setting.name
        if folder.exists() and self.is_world_process_zero():  # an attempt killed before it finished: start afresh
            shutil.rmtree(folder)
        self._start_trial(setting, folder)
        started = time.perf_counter()
        output = super().train(resume_from_checkpoint, trial, ignore_keys_for_eval)
        result = self._finish_trial(setting, folder, output.metrics, time.perf_counter() - started)
        self.objective = result.objective(self.plan.metric)
        return output

    def _start_trial(self, setting: Setting, folder: Path) -> None:
        for key, value in setting.arguments(self.args).items():
            setattr(self.args, key, value)
        self.args.output_dir = str(folder)  # checkpoints (hp_name is ''), records, predictions and plots go here
        self.optimizer_cls_and_kwargs = optimizer_cls_and_kwargs(self.args)  # fixed at __init__ otherwise
        self.record.config = run_config(*self.run_arguments, self.args)
        self.pose_metrics.output_dir = folder if self.is_world_process_zero() else None
        self.pose_metrics.name = lambda: f"step-{self.state.global_step:06d}"
        self.trials_started += 1
        labels = ", ".join(setting.label(factor) for factor in FACTORS)
        self._progress(f"trial {self.trials_started}/{len(self.plan.todo)} start: {setting.name} ({labels})")

    def _progress(self, line: str) -> None:
        """One line per trial start and end, printed above the progress bar whatever the logging setup (a Ray
        worker does not inherit the driver's)."""
        if self.is_world_process_zero():
            tqdm.write(f"sweep: {line}")

    def _finish_trial(self, setting: Setting, folder: Path, train_metrics: dict, wall_s: float) -> TrialResult:
        """What ``training/run.py`` does after ``train()``: save, final evaluation, card, plots, overlays."""
        diverged = self.divergence.diverged
        self.save_model()
        if self.is_world_process_zero():
            self.record.save(folder)
        self.save_metrics("train", train_metrics)
        self.save_state()
        history = list(self.state.log_history)
        if not diverged:  # the last evaluation of a diverged model would only score noise
            self.pose_metrics.name = lambda: "final"
            self.save_metrics("eval", self.evaluate())
        best_epoch, best, final = scores_from_history(history, self.plan.metric)
        result = TrialResult(
            setting.name,
            setting.batch_size,
            setting.learning_rate,
            setting.optimizer,
            DIVERGED if diverged else FINISHED,
            best_epoch,
            best,
            final,
            round(wall_s, 2),
            train_metrics.get("train_samples_per_second"),
        )
        if self.is_world_process_zero():
            write_model_card(folder)
            plot_training_curves(history, folder)
            plot_train_validation(history, folder)
            latest = self.pose_metrics.latest
            if latest and not diverged:
                n = len(self.overlay_images)
                refs = self.eval_references
                write_overlays(
                    self.overlay_images, refs.names[:n], latest["xy"][:n], latest["found"][:n], refs.xy[:n], folder
                )
            result.save(folder)  # last: its presence marks the trial as done
        metric = self.plan.metric
        self._progress(
            f"trial {self.trials_started}/{len(self.plan.todo)} end: {setting.name} {result.status} in {wall_s:.1f} s: "
            f"best {metric} {_short(best.get(metric))} (epoch {_short(best_epoch)}), "
            f"mae {_short(best.get('mae'))} px, parse_rate {_short(best.get('parse_rate'))}"
        )
        return result


def search(trainer: SweepTrainer, plan: SweepPlan, sweep: SweepArguments) -> None:
    """``hyperparameter_search`` over the settings still to run (each trial records itself; nothing is returned)."""
    objective = plan.metric
    common: dict[str, Any] = {
        "compute_objective": lambda metrics: metrics[f"eval_{objective}"],
        "direction": "maximize",
        "hp_name": lambda trial: "",  # args.output_dir is already the trial's folder (set in SweepTrainer.train)
    }
    if sweep.backend == "optuna":
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        grid = {"setting": [s.name for s in plan.todo]}
        trainer.hyperparameter_search(
            backend="optuna",
            hp_space=trainer.search_space,
            n_trials=len(plan.todo),
            sampler=optuna.samplers.GridSampler(grid, seed=trainer.args.seed),
            pruner=optuna.pruners.NopPruner(),  # the default median pruner would cut trials short
            **common,
        )
        return
    import ray

    if not ray.is_initialized():
        ray.init(address=sweep.ray_address, include_dashboard=False)
    trainer.hyperparameter_search(
        backend="ray",
        hp_space=trainer.search_space,
        n_trials=1,  # grid_search already yields one trial per setting; n_trials repeats the whole grid
        storage_path=str((plan.root / "ray").resolve()),
        name="sweep",
        **common,
    )


def _short(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


FIGURES_DIR = "figures"


def write_outputs(plan: SweepPlan) -> tuple[list[TrialResult], list[Path]]:
    """``sweep_results.csv``, ``sweep_summary.md`` and the per-factor figures of every trial recorded so far."""
    results = plan.results()
    done = {r.setting for r in results}
    missing = [s.name for s in plan.settings if s.name not in done]
    paths = list(write_results(results, plan.root, plan.metric, plan.design, missing))
    return results, paths + comparison_figures(plan, done)


def comparison_figures(plan: SweepPlan, done: set[str]) -> list[Path]:
    """``figures/<factor>.png`` (Figures 4-6): the settings that differ from the baseline in that factor alone."""
    written = []
    base = plan.baseline
    for factor in FACTORS:
        line = [
            s
            for s in plan.settings
            if s.name in done and all(getattr(s, f) == getattr(base, f) for f in FACTORS if f != factor)
        ]
        if len({getattr(s, factor) for s in line}) < 2:
            logger.info("sweep: no %s figure: fewer than two finished settings vary %s alone", factor, factor)
            continue
        line.sort(key=lambda s: getattr(s, factor))
        histories = {
            s.label(factor): read_json(plan.root / s.name / TRAINER_STATE_NAME).get("log_history", []) for s in line
        }
        fixed = ", ".join(base.label(f) for f in FACTORS if f != factor)
        path = plan.root / FIGURES_DIR / f"{factor}.png"
        written.append(plot_factor(FACTORS[factor], histories, plan.metric, path, note=fixed))
    return written
