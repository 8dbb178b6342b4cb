"""Stage 1 fitted alone with different layers holding the remainder: its layer energies
against Geant4's.

Usage:
    python benchmarks/stage1_coding.py --train TRAIN.h5 --val VAL.h5
        [--recipe calochallenge-ds2-patch-transformer] [--stage teacher]
        [--remainder=-1,0,peak] [--seeds 0,7] [--threads 1] [KEY=VALUE ...]

For each ``layer_remainder`` (a layer index; ``peak``: the layer of largest mean energy in
TRAIN) and seed, the model of the recipe's train stage (its family and
model settings, ``layer_fit_steps`` included, then the KEY=VALUE model or ``train.``
settings) is built with that seed, its preprocessing fitted on TRAIN and its stage 1 trained
alone (``ShowerModel.fit_stage1_alone``, batches drawn with the same seed, at the recipe's
learning rate): the path of a fresh training run before its loop. Stage 1 then samples layer
energies at the conditions of VAL (noise seed 1), compared with VAL's own:

* the validation NLL of stage 1 (nats per shower, in the flow's standardised features; the
  codings differ, so it compares seeds of one coding, not the codings);
* the last layer: share of showers with at least 0.01 MeV, generated and Geant4, and the
  ratio of its mean energies;
* the largest difference over the layers between those shares, and its layer;
* response (mean E_vis/E_inc) and resolution as ``caloforge evaluate`` defines them (the
  Gaussian core of 8 log bins): the largest response error and the range of the
  resolution ratio to Geant4's over the bins.

A markdown table on stdout; CPU seconds of each fit beside it, with ``--threads`` torch
threads.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from caloforge.data import Conditions, read_showers
from caloforge.evaluate.observables import energy_response
from caloforge.geometry import Detector
from caloforge.models import ModelConfig
from caloforge.models.layer_stage import layer_energies
from caloforge.recipes import load_recipe
from caloforge.train import TrainConfig
from caloforge.train.config import resolve_run_config
from caloforge.train.loading import build_model

HIT_MEV = 0.01


def _stage_settings(recipe: str, stage: str) -> tuple[str, list[str]]:
    """(family, KEY=VALUE settings) of a recipe's train stage."""
    spec = load_recipe(recipe).stage(stage)
    family = spec.settings["family"]
    return family, [f"{k}={v}" for k, v in spec.config.items()]


def fit_and_compare(
    family: str,
    config: tuple[ModelConfig, TrainConfig],
    seed: int,
    det: Detector,
    train: tuple[np.ndarray, Conditions],
    val: tuple[np.ndarray, Conditions],
) -> dict[str, float | int | str]:
    """One stage-1 fit of the (model, train) ``config`` and its comparison with the
    validation showers."""
    model_config, train_config = config
    model = build_model(family, model_config, det, seed=seed)
    showers, cond = train
    model.fit_preprocessing(showers, cond)
    start = time.process_time()
    model.fit_stage1_alone(showers, cond, torch.Generator().manual_seed(seed), lr=train_config.lr)
    cpu = time.process_time() - start
    assert model.stage1 is not None
    stage1 = model.stage1.eval()
    vshowers, vcond = val
    energy = torch.as_tensor(vcond.energy, dtype=torch.float32)
    with torch.no_grad():
        features = model.cond_scaler(model.condition_tensor(vcond))
        geant4 = layer_energies(torch.as_tensor(vshowers), det)
        nll = float(stage1.loss(stage1.encode(torch.as_tensor(vshowers), energy), features))
        noise = torch.randn(
            len(features), stage1.n_features, generator=torch.Generator().manual_seed(1)
        )
        generated = stage1.layers(stage1.sample(features, noise), energy)
    g4, gen = geant4.numpy().astype(np.float64), generated.numpy().astype(np.float64)
    share = (gen >= HIT_MEV).mean(0) - (g4 >= HIT_MEV).mean(0)
    e = vcond.energy.astype(np.float64)
    ref, mod = energy_response(e, g4.sum(1) / e), energy_response(e, gen.sum(1) / e)
    return {
        "remainder": model_config.layer_remainder,
        "seed": seed,
        "cpu_s": cpu,
        "nll": nll,
        "last_gen": float((gen[:, -1] >= HIT_MEV).mean()),
        "last_g4": float((g4[:, -1] >= HIT_MEV).mean()),
        "last_mean": float(gen[:, -1].mean() / g4[:, -1].mean()),
        "share_diff": float(np.abs(share).max()),
        "share_layer": int(np.abs(share).argmax()),
        "response": float(np.abs(mod.mean / ref.mean - 1).max()),
        "res_lo": float((mod.resolution / ref.resolution).min()),
        "res_hi": float((mod.resolution / ref.resolution).max()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", required=True)
    parser.add_argument("--val", required=True)
    parser.add_argument("--recipe", default="calochallenge-ds2-patch-transformer")
    parser.add_argument("--stage", default="teacher")
    parser.add_argument("--remainder", default="-1,0", help="layer indices, or peak")
    parser.add_argument("--seeds", default="0,7")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("settings", nargs="*", help="KEY=VALUE model or train. settings")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    try:
        showers, cond, det = read_showers(args.train)
        vshowers, vcond, _ = read_showers(args.val)
        family, recipe_settings = _stage_settings(args.recipe, args.stage)
        peak = int(layer_energies(torch.as_tensor(showers), det).mean(0).argmax())
        configs = {}
        for remainder in args.remainder.split(","):
            layer = peak if remainder == "peak" else remainder
            overrides = [*recipe_settings, *args.settings, f"layer_remainder={layer}"]
            configs[layer] = resolve_run_config(family, overrides=overrides)
            build_model(family, configs[layer][0], det)  # refuses a layer the readout lacks
        seeds = [int(s) for s in args.seeds.split(",")]
    except (OSError, ValueError, KeyError) as exc:  # files, recipe, settings: one line
        parser.error(str(exc).strip().splitlines()[0])
    print(
        f"{args.recipe} stage {args.stage} ({family}); "
        f"TRAIN {len(showers)} showers, VAL {len(vshowers)}"
    )
    print()
    print(
        "| remainder | seed | fit CPU s | val NLL | last layer >= 0.01 MeV (G4) "
        "| last-layer mean / G4 | largest share difference (layer) | max response error "
        "| resolution / G4 |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for config in configs.values():
        for seed in seeds:
            r = fit_and_compare(family, config, seed, det, (showers, cond), (vshowers, vcond))
            print(
                f"| {r['remainder']} | {seed} | {r['cpu_s']:.0f} | {r['nll']:.1f} "
                f"| {r['last_gen']:.3f} ({r['last_g4']:.3f}) | {r['last_mean']:.2f} "
                f"| {r['share_diff']:.3f} ({r['share_layer']}) | {r['response']:.2%} "
                f"| {r['res_lo']:.2f}-{r['res_hi']:.2f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
