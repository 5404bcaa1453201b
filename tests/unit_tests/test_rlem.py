import pytest
from hypothesis import given
from hypothesis import strategies as st

from langchain_rememberer.rlem import (
    ActionStats,
    apply_update,
    cap_rewards,
    fold_table,
    fold_updates,
    n_step_targets,
)

V = [0.5, 0.2, 0.7]


def test_monte_carlo_undiscounted() -> None:
    assert n_step_targets([0.0, 0.0, 1.0], V, gamma=1.0, n_step=None) == [1.0, 1.0, 1.0]


def test_monte_carlo_ignores_bootstrap_values() -> None:
    assert n_step_targets([1.0, 2.0], [], gamma=1.0, n_step=None) == [3.0, 2.0]


def test_monte_carlo_discounted() -> None:
    assert n_step_targets([0.0, 0.0, 1.0], V, gamma=0.9, n_step=None) == pytest.approx(
        [0.81, 0.9, 1.0]
    )


def test_one_step_bootstraps_from_next_state() -> None:
    # G0 = r1 + γ V(o1); G1 = r2 + γ V(o2); G2 = r3 (t + n = T: no bootstrap)
    targets = n_step_targets([0.0, 0.0, 1.0], V, gamma=0.9, n_step=1)
    assert targets == pytest.approx([0.9 * 0.2, 0.9 * 0.7, 1.0])


def test_two_step() -> None:
    # G0 = r1 + γ r2 + γ² V(o2); G1 = r2 + γ r3; G2 = r3
    targets = n_step_targets([0.0, 0.5, 1.0], V, gamma=0.9, n_step=2)
    assert targets == pytest.approx([0.45 + 0.81 * 0.7, 0.5 + 0.9, 1.0])


def test_two_step_undiscounted() -> None:
    targets = n_step_targets([1.0, 0.0, 0.0, 2.0], [9.0, 9.0, 3.0, 4.0], gamma=1.0, n_step=2)
    assert targets == [1.0 + 3.0, 0.0 + 4.0, 2.0, 2.0]


def test_horizon_longer_than_episode_is_monte_carlo() -> None:
    rewards = [0.0, 1.0, -1.0]
    assert n_step_targets(rewards, V, gamma=0.9, n_step=10) == n_step_targets(
        rewards, V, gamma=0.9, n_step=None
    )


def test_bootstrap_values_must_match_steps() -> None:
    with pytest.raises(ValueError, match="one bootstrap value per step"):
        n_step_targets([0.0, 1.0], [0.0], gamma=1.0, n_step=1)


def test_mean_learning_rate_is_running_average() -> None:
    stats = fold_updates([(1.0, 0.0), (0.0, 0.0), (2.0, 1.0)])
    assert stats == ActionStats(q=pytest.approx(1.0), visits=3, last_reward=1.0)


def test_constant_learning_rate() -> None:
    # Q = 1; then 1 + 0.5 (0 - 1) = 0.5; then 0.5 + 0.5 (2 - 0.5) = 1.25
    stats = fold_updates([(1.0, 0.0), (0.0, 0.0), (2.0, 0.0)], learning_rate="constant", alpha=0.5)
    assert stats is not None
    assert stats.q == pytest.approx(1.25)
    assert stats.visits == 3


def test_new_action_starts_at_target() -> None:
    assert apply_update(None, 0.7, 0.1) == ActionStats(q=0.7, visits=1, last_reward=0.1)


def test_fold_table_keeps_actions_apart() -> None:
    table = fold_table([("a", 1.0, 0.0), ("b", -1.0, 0.0), ("a", 0.0, 0.0)])
    assert table["a"].q == pytest.approx(0.5)
    assert table["a"].visits == 2
    assert table["b"] == ActionStats(q=-1.0, visits=1, last_reward=0.0)


finite = st.floats(min_value=-100, max_value=100, allow_nan=False)
updates = st.lists(st.tuples(st.sampled_from(["a", "b", "c"]), finite, finite), max_size=30)


@given(
    updates=updates,
    split=st.integers(min_value=0, max_value=30),
    mode=st.sampled_from(["mean", "constant"]),
)
def test_folding_in_order_equals_one_by_one(updates, split, mode) -> None:
    one_by_one: dict[str, ActionStats] = {}
    for action, target, reward in updates:
        one_by_one[action] = apply_update(
            one_by_one.get(action), target, reward, learning_rate=mode, alpha=0.3
        )
    folded = fold_table(updates, learning_rate=mode, alpha=0.3)
    # Folding a prefix and then the rest from that table gives the same result too.
    resumed = fold_table(
        updates[split:],
        learning_rate=mode,
        alpha=0.3,
        initial=fold_table(updates[:split], learning_rate=mode, alpha=0.3),
    )
    assert folded == one_by_one
    assert set(resumed) == set(folded)
    for action, stats in folded.items():
        assert resumed[action].visits == stats.visits
        assert resumed[action].q == pytest.approx(stats.q)


def test_answers_share_one_q_and_the_best_answer_is_kept() -> None:
    from langchain_rememberer.rlem import fold_table

    table = fold_table(
        [
            ("final_answer", 0.0, 0.0, "20 days"),
            ("final_answer", 1.0, 1.0, "25 days"),
            ("final_answer", 0.5, 0.5, "about 25"),
            ("search", 0.2, 0.0),
        ]
    )
    answer = table["final_answer"]
    assert (answer.q, answer.visits) == (0.5, 3)
    assert (answer.answer, answer.answer_value) == ("25 days", 1.0)
    assert table["search"].answer == ""


def test_cap_rewards_scales_a_run_down_to_the_cap_keeping_signs() -> None:
    assert cap_rewards([3.0, -1.0], 2.0) == [1.5, -0.5]
    assert cap_rewards([1.0, -1.0], 2.0) == [1.0, -1.0]  # at the cap: unchanged
    assert cap_rewards([1e300, 1e300], None) == [1e300, 1e300]
    assert cap_rewards([], 1.0) == []


def test_monte_carlo_targets_are_the_discounted_sums_of_the_rewards_after() -> None:
    rewards = [((t * 37) % 11 - 5) / 3 for t in range(300)]
    forward = [sum(0.9**i * r for i, r in enumerate(rewards[t:])) for t in range(len(rewards))]
    got = n_step_targets(rewards, [], gamma=0.9, n_step=None)
    assert got == pytest.approx(forward, rel=1e-12, abs=1e-12)
    assert n_step_targets(rewards, [0.0] * 300, gamma=0.9, n_step=300) == got  # n ≥ T: the same
