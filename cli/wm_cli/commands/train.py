"""``wm train``: stage 1, the same code that produced the shipped weights (``wm_plugin.train.stage1``), and
stage 2, the extractor fine-tuned on surrogate models' outputs (``wm_plugin.train.stage2``)."""

from __future__ import annotations

import json
import os

import click

from ..options import device_option

STAGE1_ONLY = ("bits", "size", "workers", "ssim_weight", "detail_floor", "chroma_smoothing", "private",
               "extractor_backbone", "discriminator_backbone", "until")
STAGE2_ONLY = ("task", "scale", "archs", "loss", "surrogate_steps")
SIZES = ("64", "128", "256", "512")  # the networks work on a grid of 32 times a power of two, from 64 up


@click.command("train", help="Stage 1 (default): train embedder H, extractor R and discriminator D. Stage 2 "
                             "(--stage 2): train surrogate models on marked answers of the task and fine-tune R (from "
                             "--init, default the shipped weights) to read the mark in their outputs. Writes "
                             "safetensors to --out. Stage 1 is data-parallel under torchrun: torchrun --standalone "
                             "--nproc_per_node N -m wm_cli train ... (gloo on CPUs, NCCL on GPUs; --batch is per "
                             "process).")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Run folder: checkpoints, log, weights.")
@click.option("--stage", type=click.Choice(["1", "2"]), default="1", show_default=True, help="Which training stage.")
@click.option("--data", multiple=True, type=click.Path(exists=True, file_okay=False),
              help="Image folder to train on; repeatable.")
@click.option("--procedural", type=int, default=None,
              help="Number of built-in procedural images (default 1024; stage 2: 256).")
@click.option("--steps", type=int, default=None, help="Training steps (default 4500; stage 2: 600 steps of R).")
@click.option("--batch", type=int, default=None, help="Images per step (default 12).")
@click.option("--bits", type=int, default=None, help="Message length k (default 64).")
@click.option("--size", type=click.Choice(SIZES), default=None, callback=lambda _ctx, _param, v: v and int(v),
              help="Working resolution of H and R in pixels (default 256): smaller trains and runs faster, larger "
                   "carries the mark in finer detail.")
@click.option("--seed", type=int, default=None, help="Random seed (default 0).")
@click.option("--workers", type=int, default=None, help="Processes that draw the procedural images (default 1).")
@click.option("--ssim-weight", type=float, default=None, help="Weight of the SSIM loss (default 20).")
@click.option("--detail-floor", type=float, default=None,
              help="Floor of the detail gain (default 0.04; higher: more robust, less invisible).")
@click.option("--chroma-smoothing", type=int, default=None,
              help="Passes of the embedder's blur on the chroma of the mark, trained with (default 0; the shipped "
                   "weights got 1 after training).")
@click.option("--init", type=click.Path(exists=True, file_okay=False), default=None,
              help="Fine-tune from this weights folder (embedder/extractor.safetensors), e.g. the shipped one: "
                   "no curriculum, lr 3e-4.")
@click.option("--private", is_flag=True,
              help="Make a private pair: fine-tune --init (default: the shipped weights) so that its extractor no "
                   "longer reads the new marks; embed and verify with --weights OUT. Keep OUT secret.")
@click.option("--extractor-backbone", default=None, metavar="TIMM_NAME",
              help="Build R on this timm model (e.g. resnet18, convnext_atto), untrained: slower, for robustness. "
                   "Default: the built-in small CNN. Needs timm.")
@click.option("--discriminator-backbone", default=None, metavar="TIMM_NAME",
              help="Build D on this timm model instead of the built-in PatchGAN. Needs timm.")
@click.option("--task", type=click.Choice(["denoise", "sr", "derain"]), default=None,
              help="Stage 2: the task the surrogates learn (default denoise; sr with --scale).")
@click.option("--scale", type=int, default=None,
              help="Stage 2: the upscaling factor of the task (default 1; 2 with --task sr).")
@click.option("--archs", default=None, metavar="A,B",
              help="Stage 2: surrogate architectures, each trained marked and clean (default unet,resnet9; also "
                   "srvgg).")
@click.option("--loss", default=None, help="Stage 2: the surrogates' loss, l1|l2|ssim|adv (default l1).")
@click.option("--surrogate-steps", type=int, default=None,
              help="Stage 2: training steps of each surrogate (default 1000).")
@click.option("--resume", is_flag=True, help="Continue from --out/checkpoint.pt.")
@click.option("--until", type=int, default=None, help="Stop (checkpointed) at this step; continue later with --resume.")
@device_option
def command(stage: str, **params) -> None:
    wrong = STAGE1_ONLY if stage == "2" else STAGE2_ONLY
    for name in wrong:
        if params[name] not in (None, False):
            raise click.UsageError(f"--{name.replace('_', '-')} applies to stage {1 if stage == '2' else 2} only")
    given = {k: v for k, v in params.items() if k not in wrong and v is not None}
    (_stage2 if stage == "2" else _stage1)(**given)


def _stage2(*, resume: bool, archs: str | None = None, **fields) -> None:
    from wm_plugin.train.stage2 import Stage2Config, train_stage2

    if fields.get("task") == "sr" and "scale" not in fields:
        fields["scale"] = 2
    if archs:
        fields["archs"] = tuple(archs.split(","))
    figures = train_stage2(Stage2Config(**fields), resume=resume)
    click.echo(json.dumps({"out": fields["out"], **figures}))


def _stage1(*, private: bool, resume: bool, until: int | None = None, init: str | None = None, **fields) -> None:
    from wm_plugin.codec import default_weights_dir
    from wm_plugin.train.stage1 import Stage1Config, train_stage1

    if private:
        init = init or str(default_weights_dir())
        fields["escape"] = init
    cfg = Stage1Config.fine_tune(init, **fields) if init else Stage1Config(**fields)
    figures = train_stage1(cfg, resume=resume, until=until)
    if os.environ.get("RANK", "0") == "0":  # under torchrun, one answer: rank 0's
        click.echo(json.dumps({"out": fields["out"], **figures}))
