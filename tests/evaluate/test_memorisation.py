"""The memorisation check flags a shower library and passes fresh showers."""

from __future__ import annotations

import numpy as np
import pytest

from caloforge.evaluate.memorisation import memorisation_check, nearest_distances, normalised_voxels


def test_nearest_distances_brute_force() -> None:
    rng = np.random.default_rng(0)
    t, q = rng.normal(size=(300, 6)), rng.normal(size=(50, 6))
    et, eq = rng.uniform(1, 100, 300), rng.uniform(1, 100, 50)
    d = nearest_distances(q, eq, t, et, n_neighbours=300, block=7)
    brute = np.sqrt(((q[:, None] - t[None]) ** 2).sum(-1)).min(axis=1)
    np.testing.assert_allclose(d, brute, rtol=1e-9, atol=1e-9)
    # restricted to the 20 nearest in log energy: never closer than the unrestricted search
    d20 = nearest_distances(q, eq, t, et, n_neighbours=20, block=16)
    assert np.all(d20 >= d - 1e-12)
    for i in range(5):
        near = np.argsort(np.abs(np.log(et) - np.log(eq[i])))[:20]
        assert d20[i] == pytest.approx(np.sqrt(((q[i] - t[near]) ** 2).sum(-1)).min())


def test_library_is_flagged_fresh_is_not(toy_showers, atlas) -> None:  # type: ignore[no-untyped-def]
    s_train, c_train = toy_showers(atlas, 2000, 1)
    s_held, c_held = toy_showers(atlas, 600, 2)
    s_fresh, c_fresh = toy_showers(atlas, 600, 3)
    # a shower library: the training shower nearest in energy, rescaled to the new energy
    idx = np.searchsorted(np.sort(c_train.energy), c_fresh.energy).clip(0, 1999)
    order = np.argsort(c_train.energy)
    lib = s_train[order[idx]] * (c_fresh.energy / c_train.energy[order[idx]])[:, None]
    t = normalised_voxels(s_train)

    def dist(s, c):  # type: ignore[no-untyped-def]
        return nearest_distances(normalised_voxels(s), c.energy, t, c_train.energy)

    held = dist(s_held, c_held)
    fresh = memorisation_check(dist(s_fresh, c_fresh), held, n_train=2000)
    copies = memorisation_check(dist(lib, c_fresh), held, n_train=2000)
    assert not fresh.flagged and fresh.fraction_near_copies < 0.04
    assert copies.flagged and copies.fraction_near_copies > 0.9
    assert copies.fraction_exact_copies > 0.9
    assert copies.median_candidate < fresh.median_candidate
    # a copy with a wrong energy scale is still a copy of the shower's shape
    mis = memorisation_check(dist(1.05 * lib, c_fresh), held, n_train=2000)
    assert mis.flagged and mis.fraction_exact_copies > 0.9
