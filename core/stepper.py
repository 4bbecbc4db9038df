"""Step mode: one learner's network trained a batch at a time, kept in a worker between clicks.

`Stepper` holds the network, its optimizer and the data; it runs wherever it is built: as a Dask actor in a
worker for the Training page (the model stays there, each click is one call straight to that worker), or in the
calling process for tests. `StepSessions` is the page's side: at most one step-mode network per worker (a
worker's actor calls run one at a time, so two learners on one worker would wait for each other), one per
browser, registered in the scheduler's metadata so that a reload or another replica finds it. A network nobody
clicked for its idle limit (STEPPER_IDLE_SECONDS, or DIGITLAB_STEP_IDLE_SECONDS) is closed by `close_idle`, which
the embedded cluster runs every second whether or not a web server is connected (and servers run it too).
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import time
from dataclasses import dataclass

import numpy as np

from core.cluster_client import forget_metadata
from core.config import ModelConfig
from core.state import STEPPERS, stepper_dataset

MAX_STEPS_PER_CALL = 100
SHOWN_UNITS = 16  # the first layer's units (or filters) whose weight pictures the page follows
STEPPER_IDLE_SECONDS = 300  # a step-mode network nobody clicked for this long is closed, its worker freed
IDLE_ENV = "DIGITLAB_STEP_IDLE_SECONDS"


class StepModeError(Exception):
    """Step mode cannot start or go on; the message is meant for the user."""


@dataclass(frozen=True)
class StepView:
    """What the page shows after a step: every batch's loss and accuracy so far, where training stands, the
    first units' weight pictures, and the drawing's probabilities (None without a drawing)."""

    step: int  # batches trained so far
    epoch: int  # 1-based epoch of the next batch
    batch: int  # batches of this epoch done
    batches_per_epoch: int
    losses: list[float]
    accuracies: list[float]
    weights: np.ndarray  # (units, h, w)
    units: list[int]
    probabilities: np.ndarray | None
    milliseconds: float  # the worker's time for this call


class Stepper:
    """A network trained a batch at a time on a dataset's first `limit` training images, in an order fixed by
    the config's seed and the epoch."""

    def __init__(self, config: dict, dataset_name: str, limit: int | None = None):
        from core.model import build_model, input_shape_for
        from core.training import PLAIN_COMPILE, cached_dataset

        self.config = ModelConfig(**config)
        dataset = cached_dataset(dataset_name)
        self.images, self.labels = dataset.x_train[:limit], dataset.y_train[:limit]
        self.pixel_max, self.shape = dataset.pixel_max, input_shape_for(self.config, dataset.image_shape)
        constant = dataclasses.replace(self.config, schedule="constant")  # no schedule: there is no end to plan for
        self.model = build_model(constant, self.shape, compile_options=PLAIN_COMPILE)
        if self.config.adversarial:  # each step trains on its batch as an attacker changes it, as a run does
            from core.adversarial import train_against_attacks

            train_against_attacks(self.model, self.config.adversarial)
        self.batches_per_epoch = math.ceil(len(self.images) / self.config.batch_size)
        self.step_count, self.losses, self.accuracies = 0, [], []
        self._order: tuple[int, np.ndarray | None] = (-1, None)
        self._warm_up()

    def _warm_up(self) -> None:
        """Trace the training step once and undo it: the first click is as fast as the others."""
        self.model.optimizer.build(self.model.trainable_variables)
        weights = self.model.get_weights()
        slots = [variable.numpy() for variable in self.model.optimizer.variables]
        self.model.train_on_batch(*self._batch(0))
        self.model.set_weights(weights)
        for variable, value in zip(self.model.optimizer.variables, slots, strict=True):
            variable.assign(value)
        self.view(np.zeros(self.shape, np.float32))  # and the forward pass that reads a drawing

    def _batch(self, step: int) -> tuple[np.ndarray, np.ndarray]:
        from core.model import to_model_input

        epoch, index = divmod(step, self.batches_per_epoch)
        if self._order[0] != epoch:  # a new order each epoch, from the seed and the epoch's number
            self._order = (epoch, np.random.default_rng([self.config.seed, epoch]).permutation(len(self.images)))
        chosen = self._order[1][index * self.config.batch_size :][: self.config.batch_size]
        return to_model_input(self.images[chosen], self.pixel_max, self.shape), self.labels[chosen]

    def built_from(self) -> ModelConfig:
        return self.config

    def step(self, batches: int, drawing: np.ndarray | None = None) -> StepView:
        """Train `batches` batches (at most MAX_STEPS_PER_CALL), then the view."""
        started = time.perf_counter()
        for _ in range(min(max(batches, 0), MAX_STEPS_PER_CALL)):
            loss, accuracy = self.model.train_on_batch(*self._batch(self.step_count))
            self.losses.append(round(float(loss), 5))
            self.accuracies.append(round(float(accuracy), 5))
            self.step_count += 1
        return self.view(drawing, started)

    def view(self, drawing: np.ndarray | None, started: float | None = None) -> StepView:
        """Where training stands, without training."""
        from core.insight import weight_images
        from core.model import predict_probabilities

        started = started or time.perf_counter()
        weights = weight_images(self.model)[:SHOWN_UNITS]
        probabilities = None
        if drawing is not None:
            x = np.asarray(drawing, np.float32).reshape((1, *self.shape))
            probabilities = predict_probabilities(self.model, x)[0]
        epoch, batch = divmod(self.step_count, self.batches_per_epoch)
        return StepView(
            self.step_count,
            epoch + 1,
            batch,
            self.batches_per_epoch,
            list(self.losses),
            list(self.accuracies),
            weights,
            list(range(len(weights))),
            probabilities,
            round((time.perf_counter() - started) * 1000, 1),
        )


# ---- The page's side: one step-mode network per browser, one per worker ------------------------------------------


def idle_limit() -> float:
    """Seconds a step-mode network waits for a click before it is closed (DIGITLAB_STEP_IDLE_SECONDS, or 300)."""
    try:
        return max(1.0, float(os.environ.get(IDLE_ENV) or STEPPER_IDLE_SECONDS))
    except ValueError:
        return float(STEPPER_IDLE_SECONDS)


def close_idle(client) -> dict[str, dict]:
    """Close every step-mode network idle past its own limit, or whose worker left (unpublished: its actor goes and
    its worker is free), forget its entry; returns the entries still in use, by owner."""
    registry = client.get_metadata([STEPPERS], default={}) or {}
    workers = set(client.scheduler_info()["workers"])
    now, live = time.time(), {}
    for owner, entry in registry.items():
        usable = isinstance(entry, dict) and entry.get("name") and entry.get("worker") in workers
        if usable and now - entry.get("used", 0) <= entry.get("idle", STEPPER_IDLE_SECONDS):
            live[owner] = entry
        else:
            forget(client, owner, entry)
    return live


def forget(client, owner: str, entry) -> None:
    """Close one step-mode network: unpublished, its actor is released and its worker freed; its entry removed."""
    with contextlib.suppress(Exception):
        client.unpublish_dataset(entry["name"])
    with contextlib.suppress(Exception):
        forget_metadata(client, STEPPERS, owner)


class StepSessions:
    """Step-mode networks on the cluster, by owner (a browser)."""

    def __init__(self, cluster, idle_seconds: float = STEPPER_IDLE_SECONDS):
        self.cluster = cluster  # core.cluster_client.TrainingCluster
        self.idle_seconds = idle_seconds

    def open(self, owner: str, config: ModelConfig, dataset_name: str, limit: int | None = None) -> Stepper:
        """A new step-mode network for `owner` (closing its old one) on an idle worker that hosts none; its handle
        (a Dask actor). StepModeError when every worker already hosts one or is training."""
        client = self.cluster.client()
        self.close(owner)
        registry = close_idle(client)
        workers = list(client.scheduler_info()["workers"])
        taken = {entry["worker"] for entry in registry.values()}
        busy = {worker: len(tasks) for worker, tasks in client.processing().items()}
        free = [worker for worker in workers if worker not in taken]
        idle = [worker for worker in free if not busy.get(worker)]
        if workers and not free:
            raise StepModeError(
                f"Every worker ({len(workers)}) already runs another learner's step mode. One closes after "
                f"{self.idle_seconds / 60:g} minutes without a click; try again then, or train a whole run."
            )
        if workers and not idle:  # building the network needs the worker's one task thread, which a run holds
            raise StepModeError(
                f"Every free worker ({len(free)}) is training a run now, and step mode needs one to build its network "
                "in. Try again when a run ends: a network in step mode keeps its worker while others train."
            )
        placement = {"workers": idle[:1], "allow_other_workers": False} if idle else {}
        future = client.submit(
            Stepper, dataclasses.asdict(config), dataset_name, limit, actor=True, pure=False, priority=10, **placement
        )
        try:
            stepper = future.result(timeout=60)
        except Exception as error:
            raise StepModeError(f"Step mode could not start: {str(error).splitlines()[0]}") from error
        name = stepper_dataset(owner)
        client.publish_dataset(future, name=name, override=True)  # lives on the cluster, not in this server
        worker = next(iter(client.who_has([future]).get(future.key, ())), idle[0] if idle else "")
        entry = {"worker": worker, "name": name, "used": time.time(), "idle": self.idle_seconds}
        client.set_metadata([STEPPERS, owner], entry)
        return stepper

    def find(self, owner: str) -> tuple[Stepper, ModelConfig] | None:
        """The owner's step-mode network, from any server, and the config it was built from; or None (also when no
        cluster runs: looking does not start one)."""
        client = self.cluster.existing_client()
        if client is None:
            return None
        entry = close_idle(client).get(owner)
        if entry is None:
            return None
        try:
            with client.as_current():
                stepper = client.get_dataset(entry["name"], default=None).result(timeout=10)
                return stepper, stepper.built_from().result(timeout=10)
        except Exception:  # its worker is gone: forget it
            self.close(owner)
            return None

    def step(self, owner: str, stepper: Stepper, batches: int, drawing: np.ndarray | None) -> StepView:
        """Train on the worker and return the view; StepModeError when the worker is gone."""
        client = self.cluster.client()
        try:
            with client.as_current():  # an actor's handle talks through the current client (ours is not the default)
                view = stepper.step(batches, drawing).result(timeout=60)
        except Exception as error:
            self.close(owner)
            raise StepModeError(
                f"The worker holding your network stopped ({str(error).splitlines()[0]}); start step mode again."
            ) from error
        with contextlib.suppress(Exception):
            client.set_metadata([STEPPERS, owner, "used"], time.time())
        return view

    def close(self, owner: str) -> None:
        """Close the owner's step-mode network (its worker is free for someone else)."""
        client = self.cluster.client()
        entry = close_idle(client).get(owner)
        if entry is not None:
            forget(client, owner, entry)
