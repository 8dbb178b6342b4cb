"""Voxel-classifier AUC of two generated samples against two Geant4 references, with
three classifier seeds: how much of a voxel AUC is the generated sample, the reference,
or the classifier fit.

Usage:
    python benchmarks/voxel_auc_cross_reference.py GEN_AT_VAL.h5 GEN_AT_FRESH.h5
        --val VAL.h5 --fresh INDEPENDENT.h5

GEN_AT_VAL.h5 and GEN_AT_FRESH.h5: one model's showers generated at the conditions of the
validation file (VAL.h5) and of an independent Geant4 file (INDEPENDENT.h5, as in
benchmarks/independent_reference.sh).

Prints one line per (reference, generated sample): the headline AUC, its error and each
classifier's mean AUC; at most 5,000 showers of each file.
"""

from __future__ import annotations

import argparse

from caloforge.data import read_showers
from caloforge.evaluate.classifier import ClassifierConfig, two_sample_test, voxel_inputs


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("gen_at_val")
    p.add_argument("gen_at_fresh")
    p.add_argument("--val", required=True, help="the validation file")
    p.add_argument("--fresh", required=True, help="an independent Geant4 file")
    a = p.parse_args()
    refs = {"val": a.val, "fresh": a.fresh}
    gens = {"gen@val": a.gen_at_val, "gen@fresh": a.gen_at_fresh}
    cfg = ClassifierConfig(seeds=(0, 1, 2))
    for rname, rpath in refs.items():
        rs, rc, _ = read_showers(rpath, max_showers=5000)
        for gname, gpath in gens.items():
            gs, gc, _ = read_showers(gpath, max_showers=5000)
            r = two_sample_test(voxel_inputs(rs, rc), voxel_inputs(gs, gc), cfg)
            each = {k: round(v["auc_mean"], 3) for k, v in r["classifiers"].items()}
            auc = f"AUC {r['auc']:.3f} +- {r['auc_err']:.3f}"
            print(f"{rname} vs {gname}: {auc} {each}", flush=True)


if __name__ == "__main__":
    main()
