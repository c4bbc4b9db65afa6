"""NumPad: the task enumeration, the pressing rules in scripted episodes, and kinematic vs MJX."""
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from envs.numpad import NumPad, NumPadTask, valid_sequences


def _brute_force(side, length, neighbourhood):
    """Every ordered choice of distinct tiles, filtered by adjacency on (row, col)."""
    def adjacent(a, b):
        (ra, ca), (rb, cb) = divmod(a, side), divmod(b, side)
        return (max(abs(ra - rb), abs(ca - cb)) == 1 if neighbourhood == "moore"
                else abs(ra - rb) + abs(ca - cb) == 1)
    return {seq for seq in itertools.permutations(range(side * side), length)
            if all(adjacent(a, b) for a, b in itertools.pairwise(seq))}


@pytest.mark.parametrize("neighbourhood,count", [("moore", 496), ("von_neumann", 80)])
def test_enumerated_sequences_are_exactly_the_valid_ones(neighbourhood, count):
    sequences = valid_sequences(3, 4, neighbourhood)
    assert sequences.shape == (count, 4)
    as_set = {tuple(int(t) for t in s) for s in sequences}
    assert len(as_set) == count  # no duplicates
    assert as_set == _brute_force(3, 4, neighbourhood)
    assert all(len(set(s)) == 4 for s in as_set)


def test_task_info_is_the_sequence_or_its_index():
    env = NumPad(task_info="index")
    task = env.sample_task(jax.random.key(1))
    assert env.task_info_spec.kind == "categorical" and env.task_info_spec.num_classes == 496
    np.testing.assert_array_equal(env.sequences[int(env.task_info(task).value)], task.sequence)
    seq_env = NumPad()
    assert seq_env.task_info_spec.kind == "multi_categorical"
    assert (seq_env.task_info_spec.size, seq_env.task_info_spec.num_classes) == (4, 9)
    np.testing.assert_array_equal(seq_env.task_info(task).value, task.sequence)


def test_tile_lookup_matches_tile_centres():
    env = NumPad()
    for tile in range(9):
        centre = env.tile_centre(tile)
        assert int(env.tile_at(jnp.asarray(centre))) == tile
        assert int(env.tile_at(jnp.asarray(centre + [0.29, -0.29]))) == tile
        assert int(env.tile_at(jnp.asarray(centre + [0.31, 0.0]))) in (-1,)  # in a gap
    assert int(env.tile_at(jnp.asarray(env.start))) == -1


def _task(env, sequence):
    index = next(i for i, s in enumerate(env.sequences) if list(s) == list(sequence))
    return NumPadTask(sequence=jnp.asarray(sequence, jnp.int32), index=jnp.int32(index))


def _walk(env, task, targets, steps_per_tile=40):
    """A damped PD controller that visits the centre of each target tile in turn."""
    obs, state = env.reset_env(jax.random.key(0), task)
    step = jax.jit(env.step_env)
    rewards, entered, lit, actions = [], [], [], []
    for target in targets:
        centre = env.tile_centre(int(target))
        for _ in range(steps_per_tile):
            ball = np.asarray(env.physics.observation(state.ball))
            action = np.clip(3.0 * (centre - ball[:2]) - 1.5 * ball[2:], -1, 1)
            previous = int(state.tile)
            obs, state, reward = step(jax.random.key(0), state, jnp.asarray(action, jnp.float32))
            if int(state.tile) >= 0 and int(state.tile) != previous:
                entered.append(int(state.tile))
            rewards.append(float(reward))
            lit.append(np.asarray(obs[4:13]))
            actions.append(action)
    return np.array(rewards), entered, np.array(lit), np.array(actions)


SEQUENCE = [1, 5, 2, 4]  # Moore-adjacent: (0,1) (1,2) (0,2) (1,1)


def test_walking_the_sequence_earns_one_per_tile_and_can_be_repeated():
    env = NumPad()
    rewards, entered, lit, _ = _walk(env, _task(env, SEQUENCE), SEQUENCE * 2)
    assert entered == SEQUENCE * 2
    assert rewards.sum() == 8.0  # 4 per completed round, and the round can be earned again
    # after the third tile is lit, tiles 1, 5 and 2 are on; the round end turns all off
    assert set(np.flatnonzero(lit[40 * 2 + 39])) == {1, 2, 5}
    assert not lit[40 * 4 - 1].any()


def test_a_wrong_tile_clears_progress_and_earned_tiles_are_not_paid_twice():
    env = NumPad()
    wrong = 4  # (1,1): in the sequence, but neither the next tile (2) nor the first (1)
    rewards, entered, lit, _ = _walk(env, _task(env, SEQUENCE), [1, 5, wrong, 1, 5, 2, 4])
    assert entered == [1, 5, wrong, 1, 5, 2, 4]
    per_tile = rewards.reshape(7, 40).sum(1)
    np.testing.assert_array_equal(per_tile, [1, 1, 0, 0, 0, 1, 1])
    assert not lit[40 * 3 - 1].any()  # the mistake turned the lit tiles off
    assert set(np.flatnonzero(lit[40 * 5 - 1])) == {1, 5}  # relit, but not paid again


def test_cues_show_sequence_tiles_only_in_the_first_observation():
    env = NumPad(cue_prob=1.0)
    task = _task(env, SEQUENCE)
    obs, state = env.reset_env(jax.random.key(0), task)
    assert obs.shape == (env.observation_size,) == (4 + 18,)
    assert set(np.flatnonzero(obs[13:])) == set(SEQUENCE)
    obs, *_ = env.step_env(jax.random.key(0), state, jnp.zeros(2))
    assert not np.asarray(obs[13:]).any()
    shown = [int(NumPad(cue_prob=0.2).reset_env(jax.random.key(k), task)[0][13:].sum())
             for k in range(200)]
    assert 0.1 < np.mean(shown) / 4 < 0.3


def test_kinematic_and_mjx_ball_reach_the_same_tiles_with_the_same_actions():
    kinematic, mjx = NumPad(), NumPad(physics="mjx")
    task = _task(kinematic, SEQUENCE)
    rewards, entered, _, actions = _walk(kinematic, task, SEQUENCE)
    _, state = mjx.reset_env(jax.random.key(0), task)
    step = jax.jit(mjx.step_env)
    mjx_entered, mjx_reward = [], 0.0
    for action in actions:
        previous = int(state.tile)
        _, state, reward = step(jax.random.key(0), state, jnp.asarray(action, jnp.float32))
        if int(state.tile) >= 0 and int(state.tile) != previous:
            mjx_entered.append(int(state.tile))
        mjx_reward += float(reward)
    assert mjx_entered == entered == SEQUENCE
    assert mjx_reward == rewards.sum() == 4.0
