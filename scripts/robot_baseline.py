"""Prior-free robot grasps (the energy baseline on robot hands directly) and their MuJoCo verdicts, per object.

For each object (specs as ``bghop bench grasp --objects``: ``example``, YCB names such as
``002_master_chef_can``, ``ho3d``, ``extra``, or mesh paths), ``N`` grasps of two robot hands from
:func:`bghop.contact.robot.robot_starts` (palms facing across the object), the contact fit and the
squeeze (:func:`bghop.contact.robot.optimize_robot_grasps`), each verified with issue 22's protocol
(:mod:`bghop.eval.robot_physics`). Prints per object: grasps that pass, that are held (displacements
only), whether the best passes, the best's displacement, depth and links, and the time per grasp.

    python scripts/robot_baseline.py --objects example 002_master_chef_can 003_cracker_box 006_mustard_bottle
"""

from __future__ import annotations

import argparse
import logging
import time

import torch
import trimesh


def main() -> None:
    from bghop.bench.objects import resolve_objects
    from bghop.hands.robot_spec import load_robot_spec
    from bghop.synthesis import example_mesh_path
    from bghop.synthesis.robot import RobotGraspConfig, robot_grasps

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--objects", nargs="+", default=["example", "002_master_chef_can", "003_cracker_box",
                                                    "006_mustard_bottle"])
    ap.add_argument("--robot", default="leap")
    ap.add_argument("-n", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(args.threads)
    spec = load_robot_spec(args.robot)
    objects = []
    for o in args.objects:
        if o == "example":
            objects.append(("example box", trimesh.load(example_mesh_path(), force="mesh")))
        else:
            objects += [(b.name, b.mesh) for b in resolve_objects([o])]
    print(f"{spec.name} hands, {args.n} prior-free grasps per object, seed {args.seed}")
    print(f"{'object':28s} {'pass':>5s} {'held':>5s} {'best':>5s} {'moved mm':>9s} {'depth mm':>9s} "
          f"{'links':>6s} {'s/grasp':>8s}")
    total = passed = 0
    for name, mesh in objects:
        t = time.perf_counter()
        res = robot_grasps(spec, None, mesh, RobotGraspConfig(), progress=False, n=args.n, seed=args.seed)
        dt = (time.perf_counter() - t) / args.n
        ok = sum(bool(g.success) for g in res)
        held = sum(bool(g.stability.held) for g in res)
        b = res[0]
        links = "/".join(str(v) for v in b.stability.links_in_contact.values())
        print(f"{name[:28]:28s} {ok:5d} {held:5d} {'yes' if b.success else 'no':>5s} "
              f"{b.stability.max_displacement * 1000:9.1f} {b.depth_max_m * 1000:9.1f} {links:>6s} {dt:8.1f}")
        total += len(res)
        passed += ok
    print(f"all: {passed} of {total} pass ({100 * passed / max(total, 1):.0f} %)")


if __name__ == "__main__":
    main()
