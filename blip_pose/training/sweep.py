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
from transformers.trainer_utils import TrainOutput

from blip_pose.run_folder import RunFolder
from blip_pose.run_record import load_run_config, read_json, synthetic_data_note
from blip_pose.training.arguments import ConfigError
from blip_pose.training.session import RunSetUp, end_run
from blip_pose.training.signals import StopOnSignal
from blip_pose.training.sweep_figures import plot_factor
from blip_pose.training.sweep_results import DIVERGED, FINISHED, TrialResult, scores_from_history, write_results
from blip_pose.training.trainer import PoseCaptionTrainer, optimizer_cls_and_kwargs

logger = logging.getLogger(__name__)

DESIGNS = ("full", "paper")
BACKENDS = ("optuna", "ray")
#: Table 3's optimizer names as ``--optim`` values (``adam``: the project's plain Adam, see arguments.py).
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
        self.batch_sizes = _distinct("batch_sizes", [_number("batch_sizes", v, int) for v in self.batch_sizes])
        self.learning_rates = _distinct(
            "learning_rates", [_number("learning_rates", v, float) for v in self.learning_rates]
        )
        self.optimizers = _distinct("optimizers", self.optimizers)
        self.baseline_batch_size = _number("baseline_batch_size", self.baseline_batch_size, int)
        self.baseline_learning_rate = _number("baseline_learning_rate", self.baseline_learning_rate, float)
        if self.max_trials is not None and self.max_trials < 1:
            raise ConfigError(
                f"--max_trials must be at least 1 (leave it out to run every trial), got {self.max_trials}"
            )


def _number(name: str, value: Any, kind: type[int] | type[float]) -> Any:
    """A batch size (a whole number) or learning rate as a positive, finite number; anything else is an error naming
    the field (a YAML ``5e-5`` without a dot arrives as the string ``'5e-5'``, which is read as the number it is)."""
    what = "a whole number of images" if kind is int else "a learning rate"
    try:
        number = kind(value) if isinstance(value, str) or kind is float else value
    except (TypeError, ValueError):
        number = None
    ok = isinstance(number, kind) and not isinstance(value, bool) and math.isfinite(number) and number > 0
    if not ok:
        raise ConfigError(f"--{name}: {value!r} is not {what} above 0")
    return number


def _distinct(name: str, values: list[Any]) -> list[Any]:
    """``values`` without repeats (a repeated value would train the same trial twice), with a note when any were."""
    distinct = list(dict.fromkeys(values))
    if len(distinct) < len(values):
        logger.warning(
            "--%s: repeated values dropped, %s kept",
            name,
            ", ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in distinct),
        )
    return distinct


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

    def arguments(self) -> dict[str, Any]:
        """The training arguments this setting overrides (the optimizer as transformers' ``--optim``)."""
        return {
            "per_device_train_batch_size": self.batch_size,
            "learning_rate": self.learning_rate,
            "optim": OPTIM_VALUES[self.optimizer],
        }


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


class SweepTrainer(PoseCaptionTrainer):
    """Runs each trial of ``hyperparameter_search`` as a whole run in its own folder and records its result."""

    objective: float | None  # what the search backends read after train(); the Trainer sets it too

    def __init__(
        self,
        *args: Any,
        plan: SweepPlan,
        run_setup: RunSetUp,
        run_arguments: tuple[Any, Any],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.plan, self.setup, self.run_arguments = plan, run_setup, run_arguments
        # The run's signal stop (session.make_trainer adds it): a trial it stopped is not recorded as finished.
        self.stop = next(cb for cb in self.callback_handler.callbacks if isinstance(cb, StopOnSignal))
        self.divergence = DivergenceCallback()
        self.add_callback(self.divergence)
        self.trials_started = 0

    def search_space(self, trial: Any) -> dict[str, Any]:
        """Optuna: the trial's setting as training arguments. Ray (called with None): the grid to walk."""
        if trial is None:
            from ray import tune

            return {"setting": tune.grid_search([s.name for s in self.plan.todo])}
        return self.plan.setting_of(trial).arguments()

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
            trial = setting.arguments()
        folder = self.plan.root / setting.name
        if folder.exists() and self.is_world_process_zero():  # an attempt killed before it finished: start afresh
            shutil.rmtree(folder)
        self._start_trial(setting, folder)
        started = time.perf_counter()
        output = super().train(resume_from_checkpoint, trial, ignore_keys_for_eval)
        self.stop.raise_if_stopped()
        result = self._finish_trial(setting, folder, output, time.perf_counter() - started)
        self.objective = result.objective(self.plan.metric)
        return output

    def _start_trial(self, setting: Setting, folder: Path) -> None:
        for key, value in setting.arguments().items():
            setattr(self.args, key, value)
        self.args.output_dir = str(folder)  # checkpoints (hp_name is ''), records, predictions and plots go here
        self.optimizer_cls_and_kwargs = optimizer_cls_and_kwargs(self.args)  # fixed at __init__ otherwise
        self.setup.inputs.record.retrain(self.args)  # the run's record, this trial's arguments
        self.setup.compute_metrics.output_dir = folder if self.is_world_process_zero() else None
        self.setup.compute_metrics.name = lambda: f"step-{self.state.global_step:06d}"
        self.trials_started += 1
        labels = ", ".join(setting.label(factor) for factor in FACTORS)
        self._progress(f"trial {self.trials_started}/{len(self.plan.todo)} start: {setting.name} ({labels})")

    def _progress(self, line: str) -> None:
        """One line per trial start and end, printed above the progress bar whatever the logging setup (a Ray
        worker does not inherit the driver's)."""
        if self.is_world_process_zero():
            tqdm.write(f"sweep: {line}")

    def _finish_trial(self, setting: Setting, folder: Path, output: TrainOutput, wall_s: float) -> TrialResult:
        """The trial ends as a run does (:func:`blip_pose.training.session.end_run`), then records its result."""
        diverged = self.divergence.diverged
        data_args = self.run_arguments[1]
        # The last evaluation of a diverged model would only score noise.
        end = end_run(self, self.setup, data_args, output, final_evaluation=not diverged, summary=False)
        best_epoch, best, final = scores_from_history(end.history, self.plan.metric)
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
            end.metrics.get("train_samples_per_second"),
        )
        if self.is_world_process_zero():
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
    # Every trial trained on the same data: the first one's record says whether it was synthetic.
    data_note = synthetic_data_note(load_run_config(plan.root / results[0].setting)) if results else None
    paths = list(write_results(results, plan.root, plan.metric, plan.design, missing, data_note))
    return results, paths + comparison_figures(plan, done, data_note)


def comparison_figures(plan: SweepPlan, done: set[str], data_note: str | None = None) -> list[Path]:
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
            s.label(factor): read_json(RunFolder(plan.root / s.name).trainer_state).get("log_history", []) for s in line
        }
        fixed = ", ".join(base.label(f) for f in FACTORS if f != factor)
        path = plan.root / FIGURES_DIR / f"{factor}.png"
        written.append(plot_factor(FACTORS[factor], histories, plan.metric, path, note=fixed, data_note=data_note))
    return written
