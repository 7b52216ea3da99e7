"""Give a trained embedder new inference settings (detail floor, chroma smoothing), its weights unchanged.

Neither setting has weights: both shape the residual after the networks. This is how the shipped embedder
got its settings from the v6 training run (BENCHMARKS.md, "Chroma smoothing"):

    python benchmarks/embedder_settings.py runs/v6/embedder.safetensors wm_plugin/weights/embedder.safetensors \
        --chroma-smoothing 1 --force

(``--detail-floor`` too made the grid of settings BENCHMARKS.md compares; the shipped file keeps v6's 0.04.)
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from wm_plugin.errors import WeightsError
from wm_plugin.nets import load_net, save_net
from wm_plugin.nets.weights import read_net_metadata


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("source", type=Path, help="embedder.safetensors to read")
    ap.add_argument("out", type=Path, help="where to write the embedder with the new settings")
    ap.add_argument("--detail-floor", type=float, default=None)
    ap.add_argument("--chroma-smoothing", type=int, default=None)
    ap.add_argument("--force", action="store_true", help="overwrite OUT")
    args = ap.parse_args()
    if args.out.exists() and not args.force:
        raise SystemExit(f"{args.out} exists (use --force to overwrite)")

    try:
        meta = read_net_metadata(args.source)
    except WeightsError as e:
        raise SystemExit(str(e)) from None
    changes = {k: v for k, v in {"detail_floor": args.detail_floor, "chroma_smoothing": args.chroma_smoothing}.items()
               if v is not None}
    config = {**json.loads(meta["config"]), **changes}
    kept = {k: v for k, v in meta.items() if k not in ("format", "net", "config")}
    save_net(load_net(args.source), args.out, name=meta["net"], config=config, extra=kept)
    print(json.dumps(config, sort_keys=True))


if __name__ == "__main__":
    main()
