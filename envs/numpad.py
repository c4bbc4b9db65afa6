"""NumPad: find and repeat a hidden sequence of adjacent tiles on an N×N pad (sparse reward,
long memory).

The ball (`kinematic` or `mjx`, as in semicircle) moves over N×N square tiles separated by
gaps, starting just below the pad's centre. A tile is pressed when the ball enters it. The
task is a sequence of L distinct tiles, each adjacent to the previous (Moore neighbourhood,
or 4-neighbourhood with `neighbourhood="von_neumann"`). Pressing the next tile of the
sequence lights it; pressing any other tile turns all lit tiles off (if that tile is the
sequence's first, it starts a new attempt). A tile's +1 is paid the first time it is lit in
a round, so erring and re-pressing earns nothing twice; when all L are lit the round ends,
the lights go off, and the sequence can be earned again.

Observation: ball position and velocity, the lit state of each tile, and (with
`cue_prob > 0`) a cue vector that is non-zero only in a trial's first observation, showing
each tile of the sequence with probability `cue_prob`.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from envs.ball import BallPhysics, make_ball_physics
from envs.core import Box, MetaEnv, TaskInfo, TaskInfoSpec
from envs.mjx_settings import solver_settings

NEIGHBOURHOODS = ("moore", "von_neumann")
TASK_INFOS = ("sequence", "index")


def valid_sequences(side: int, length: int, neighbourhood: str = "moore") -> np.ndarray:
    """All sequences of `length` distinct tiles of a side×side pad in which each tile is
    adjacent to the previous: int array [count, length] of tile ids row·side + col."""
    def adjacent(a: int, b: int) -> bool:
        dr, dc = abs(a // side - b // side), abs(a % side - b % side)
        return max(dr, dc) == 1 if neighbourhood == "moore" else dr + dc == 1

    sequences: list[tuple[int, ...]] = []

    def extend(prefix: tuple[int, ...]) -> None:
        if len(prefix) == length:
            sequences.append(prefix)
            return
        for tile in range(side * side):
            if tile not in prefix and adjacent(prefix[-1], tile):
                extend(prefix + (tile,))

    for first in range(side * side):
        extend((first,))
    return np.array(sequences, dtype=np.int32).reshape(-1, length)


@struct.dataclass
class NumPadTask:
    sequence: jax.Array  # [L] tile ids
    index: jax.Array  # [] row of `sequence` in the enumeration


@struct.dataclass
class NumPadState:
    task: NumPadTask
    ball: object  # physics state
    tile: jax.Array  # tile under the ball, −1 in a gap
    progress: jax.Array  # tiles lit in the current attempt
    earned: jax.Array  # tiles paid in the current round
    time: jax.Array


class NumPad(MetaEnv):
    default_episodes_per_trial = 1

    def __init__(self, physics: str = "kinematic", side: int = 3, sequence_length: int = 4,
                 neighbourhood: str = "moore", tile_size: float = 0.6, spacing: float = 0.8,
                 cue_prob: float = 0.0, task_info: str = "sequence",
                 episode_length: int = 500,
                 mjx_settings: str = "fast", solver_iterations: int | None = None,
                 ls_iterations: int | None = None, euler_damping: bool | None = None):
        if neighbourhood not in NEIGHBOURHOODS:
            raise ValueError(f"numpad neighbourhood must be one of {NEIGHBOURHOODS}, got "
                             f"{neighbourhood!r}")
        if task_info not in TASK_INFOS:
            raise ValueError(f"numpad task_info must be one of {TASK_INFOS}, got {task_info!r}")
        if side < 2 or not 1 <= sequence_length <= side * side or episode_length < 1:
            raise ValueError("numpad needs side >= 2, 1 <= sequence_length <= side², "
                             "episode_length >= 1")
        if not 0 < tile_size < spacing:
            raise ValueError(f"numpad needs 0 < tile_size < spacing (gaps between tiles), "
                             f"got tile_size={tile_size}, spacing={spacing}")
        if not 0.0 <= cue_prob <= 1.0:
            raise ValueError(f"numpad cue_prob must be in [0, 1], got {cue_prob}")
        self.physics: BallPhysics = make_ball_physics(physics, solver_settings(
            "numpad", mjx_settings, solver_iterations, ls_iterations, euler_damping))
        self.side, self.length = side, sequence_length
        self.tile_size, self.spacing, self.cue_prob = tile_size, spacing, cue_prob
        self.sequences = valid_sequences(side, sequence_length, neighbourhood)
        self.num_tiles = side * side
        self.start = np.array([0.0, -side * spacing / 2], np.float32)  # below the pad
        self.observation_size = 4 + self.num_tiles * (2 if cue_prob > 0 else 1)
        self.action_space = Box(low=-1.0, high=1.0, shape=(2,))
        self.episode_length = episode_length
        self.task_info_kind = task_info
        self.task_info_spec = (
            TaskInfoSpec(kind="multi_categorical", size=sequence_length,
                         num_classes=self.num_tiles) if task_info == "sequence" else
            TaskInfoSpec(kind="categorical", size=1, num_classes=len(self.sequences)))

    def tile_centre(self, tile: int) -> np.ndarray:
        offset = (self.side - 1) / 2
        return self.spacing * (np.array([tile % self.side, tile // self.side]) - offset)

    def tile_at(self, position: jax.Array) -> jax.Array:
        """Id of the tile under `position`, or −1."""
        grid = position / self.spacing + (self.side - 1) / 2
        cell = jnp.round(grid)
        inside = jnp.all((jnp.abs(grid - cell) * self.spacing <= self.tile_size / 2)
                         & (cell >= 0) & (cell < self.side))
        tile = (cell[1] * self.side + cell[0]).astype(jnp.int32)
        return jnp.where(inside, tile, -1)

    def sample_task(self, key: jax.Array) -> NumPadTask:
        index = jax.random.randint(key, (), 0, len(self.sequences))
        return NumPadTask(sequence=jnp.asarray(self.sequences)[index], index=index)

    def task_info(self, task: NumPadTask) -> TaskInfo:
        value = task.sequence if self.task_info_kind == "sequence" else task.index
        return TaskInfo(value=value, spec=self.task_info_spec)

    def mark(self, sequence: jax.Array, flags: jax.Array) -> jax.Array:
        """1 on each tile of `sequence` whose flag is set: a one-hot max, not a scatter
        (`.at[].max`), which XLA:CPU runs as a serial loop under vmap."""
        return jnp.max(jax.nn.one_hot(sequence, self.num_tiles) * flags[:, None], axis=0)

    def lit(self, state: NumPadState) -> jax.Array:
        return self.mark(state.task.sequence, jnp.arange(self.length) < state.progress)

    def observation(self, state: NumPadState, cue: jax.Array) -> jax.Array:
        parts = [self.physics.observation(state.ball), self.lit(state)]
        return jnp.concatenate(parts + [cue] if self.cue_prob > 0 else parts)

    def reset_env(self, key: jax.Array, task: NumPadTask):
        ball = self.physics.init(jnp.asarray(self.start))
        zero = jnp.int32(0)
        state = NumPadState(task=task, ball=ball, tile=jnp.int32(-1), progress=zero,
                            earned=zero, time=zero)
        shown = jax.random.uniform(key, (self.length,)) < self.cue_prob
        cue = self.mark(task.sequence, shown)
        return self.observation(state, cue), state

    def step_env(self, key: jax.Array, state: NumPadState, action: jax.Array):
        ball = self.physics.step(state.ball, jnp.clip(action, -1.0, 1.0))
        tile = self.tile_at(self.physics.position(ball))
        entered = (tile >= 0) & (tile != state.tile)
        sequence = state.task.sequence
        correct = entered & (tile == sequence[jnp.minimum(state.progress, self.length - 1)])
        restart = entered & ~correct & (tile == sequence[0])
        progress = jnp.where(correct, state.progress + 1,
                             jnp.where(restart, 1, jnp.where(entered, 0, state.progress)))
        reward = (correct | restart) & (progress > state.earned)
        earned = jnp.maximum(state.earned, progress)
        round_done = progress == self.length
        progress, earned = jnp.where(round_done, 0, progress), jnp.where(round_done, 0, earned)
        state = state.replace(ball=ball, tile=tile, progress=progress, earned=earned)
        return self.observation(state, jnp.zeros(self.num_tiles)), state, reward
