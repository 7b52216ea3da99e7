"""GPU cost of the watermark barrier: throughput alone, latency added to BasicSR hosts, peak memory, bf16 fidelity.

Four measurements in one run, on one GPU (CUDA events; median of ``--iters`` timed runs after warm-up):

* the barrier alone (``WatermarkBarrier`` around an identity model: the shipped learned embedder, and a
  spectral key's filter) on batches of 512², 1920×1080 and 3840×2160 images: images/s in fp32, bf16 and
  bf16 channels-last, and with ``torch.compile`` at 512²;
* the latency the barrier adds to BasicSR's RRDBNet ×4 (23 blocks) and SRVGGNetCompact ×4 (32 convs),
  one 256² input → 1024² output, in fp32 and bf16;
* peak GPU memory and time of ``WatermarkCodec.mark`` (what ``wm embed --device cuda`` runs) on a 4K and an
  8K uint8 image, transfers included;
* what bf16 does to the mark: PSNR of the bf16 barrier's output against the fp32 one's, and bit accuracy of
  8-bit bf16-marked images read by the extractor.

Run: ``python benchmarks/speed_gpu.py`` (writes ``results/speed_gpu.json``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import traceback
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

import wm_basicsr  # noqa: F401  (the compatibility fixes, before basicsr)  # isort: skip
from basicsr.archs.rrdbnet_arch import RRDBNet
from basicsr.archs.srvgg_arch import SRVGGNetCompact

from results_files import write_json
from wm_plugin.barrier import WatermarkBarrier, load_embedder
from wm_plugin.codec import WatermarkCodec
from wm_plugin.io import list_images, read_image, sample_images_dir
from wm_plugin.keys import generate_key
from wm_plugin.spectral import SpectralFilter

SIZES = {"512x512": (512, 512, 32), "1920x1080": (1080, 1920, 4), "3840x2160": (2160, 3840, 1)}  # h, w, batch
RESULTS = Path(__file__).parent / "results"


DEVICE = "cuda"


def cuda_ms(fn, iters: int, warmup: int = 3) -> float:
    """Median milliseconds of ``fn()`` on the GPU (CUDA events around each call; wall time on a CPU run)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(iters):
        if DEVICE == "cpu":
            t = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t) * 1000)
            continue
        torch.cuda.synchronize()
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times)


def photo_batch(h: int, w: int, batch: int, device: str) -> torch.Tensor:
    """``batch`` copies of a bundled photo resized to h×w, (B,3,H,W) in [0, 1]."""
    rgb = read_image(list_images([sample_images_dir()])[0]).rgb_float()
    x = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)[None].to(device)
    x = torch.nn.functional.interpolate(x, size=(h, w), mode="bilinear", align_corners=False).clamp(0, 1)
    return x.expand(batch, -1, -1, -1).contiguous()


def barriers(bits_key) -> dict[str, WatermarkBarrier]:
    """The two barriers, around an identity model."""
    deep = WatermarkBarrier(nn.Identity(), load_embedder(), bits_key.carried_bits())
    spectral_key = generate_key(64, scheme="spectral")
    spectral = WatermarkBarrier(nn.Identity(), SpectralFilter.for_key(spectral_key), spectral_key.carried_bits(), 0.0)
    return {"learned": deep, "spectral": spectral}


def throughput(args, key) -> list[dict]:
    rows = []
    for name in ("learned", "spectral"):
        for size, (h, w, batch) in SIZES.items():
            x32 = photo_batch(h, w, batch, DEVICE)
            variants = {"fp32": x32, "bf16": x32.bfloat16(),
                        "bf16+channels_last": x32.bfloat16().contiguous(memory_format=torch.channels_last)}
            for variant, x in variants.items():
                if name == "spectral" and x.dtype != torch.float32:
                    continue  # torch's FFTs take no bf16 (and the filter's layout buffers must stay float64)
                net = barriers(key)[name].to(DEVICE, x.dtype)
                try:
                    with torch.no_grad():
                        ms = cuda_ms(lambda: net(x), args.iters)
                    rows.append({"barrier": name, "size": size, "batch": batch, "variant": variant, "ms_per_batch": ms,
                                 "images_per_s": batch / ms * 1000})
                except Exception as e:  # one variant failing must not lose the others' figures
                    rows.append({"barrier": name, "size": size, "variant": variant, "error": repr(e)[:300]})
                print(json.dumps(rows[-1]), flush=True)
    return rows


def compiled(args, key) -> list[dict]:
    """torch.compile at 512², bf16, learned barrier: compile time and images/s."""
    barrier = barriers(key)["learned"].to(DEVICE, torch.bfloat16)
    h, w, batch = SIZES["512x512"]
    x = photo_batch(h, w, batch, DEVICE).bfloat16()
    try:
        fast = torch.compile(barrier)
        start = time.perf_counter()
        with torch.no_grad():
            fast(x)
            if DEVICE == "cuda":
                torch.cuda.synchronize()
            compile_s = time.perf_counter() - start
            ms = cuda_ms(lambda: fast(x), args.iters)
        row = {"barrier": "learned", "size": "512x512", "batch": batch, "variant": "bf16+compile",
               "compile_s": compile_s, "ms_per_batch": ms, "images_per_s": batch / ms * 1000}
    except Exception as e:
        row = {"barrier": "learned", "variant": "bf16+compile", "error": repr(e)[:300]}
    print(json.dumps(row), flush=True)
    return [row]


def hosts(args, key) -> list[dict]:
    """Latency of RRDBNet ×4 and SRVGGNetCompact ×4 at 256² → 1024², with and without each barrier."""
    nets = {"RRDBNet_x4": lambda: RRDBNet(3, 3, num_feat=64, num_block=23, num_grow_ch=32, scale=4),
            "SRVGGNetCompact_x4": lambda: SRVGGNetCompact(3, 3, num_feat=64, num_conv=32, upscale=4, act_type="prelu")}
    rows = []
    x32 = photo_batch(args.host_size, args.host_size, 1, DEVICE)
    for host_name, make in nets.items():
        for dtype in (torch.float32, torch.bfloat16):
            host = make().to(DEVICE, dtype).eval()
            x = x32.to(dtype)
            with torch.no_grad():
                base = cuda_ms(lambda: host(x), args.iters)
                row = {"host": host_name, "dtype": str(dtype).removeprefix("torch."), "host_ms": base}
                for name, barrier in barriers(key).items():
                    if name == "spectral" and dtype != torch.float32:
                        continue
                    wrapped = WatermarkBarrier(host, barrier.embedder, barrier.message.numpy()[0],
                                               float(barrier.psnr)).to(DEVICE, dtype)
                    try:
                        ms = cuda_ms(lambda: wrapped(x), args.iters)
                        row |= {f"with_{name}_ms": ms, f"{name}_added_percent": (ms - base) / base * 100}
                    except Exception as e:
                        row[f"with_{name}_error"] = repr(e)[:300]
            rows.append(row)
            print(json.dumps(row), flush=True)
    return rows


def memory(args, key) -> list[dict]:
    """Peak GPU memory and wall time of ``WatermarkCodec.mark`` on 4K and 8K uint8 images."""
    codec = WatermarkCodec.from_pretrained(device="cuda")
    bits = key.carried_bits()
    rows = []
    for name, (h, w) in {"3840x2160": (2160, 3840), "7680x4320": (4320, 7680)}.items():
        img = (photo_batch(h, w, 1, "cpu")[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        codec.mark(img, bits)  # warm-up
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        start = time.perf_counter()
        codec.mark(img, bits)
        seconds = time.perf_counter() - start
        rows.append({"size": name, "peak_gpu_mib": (torch.cuda.max_memory_allocated() - base) / 2**20,
                     "seconds_with_transfers": seconds})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def bf16_fidelity(key) -> dict:
    """bf16 against fp32 barrier outputs at 1080p (PSNR between them), and bit accuracy of bf16-marked 8-bit images."""
    barrier = barriers(key)["learned"].to(DEVICE)
    codec = WatermarkCodec.from_pretrained(device=DEVICE)
    x = torch.cat([photo_batch(1080, 1920, 1, DEVICE)] + [
        torch.nn.functional.interpolate(
            torch.from_numpy(np.ascontiguousarray(read_image(p).rgb_float())).permute(2, 0, 1)[None].to(DEVICE),
            size=(1080, 1920), mode="bilinear", align_corners=False).clamp(0, 1)
        for p in list_images([sample_images_dir()])[1:]])
    with torch.no_grad():
        ref = barrier(x)
        low = barrier.bfloat16()(x.bfloat16()).float()
    mse = (ref - low).square().mean(dim=(1, 2, 3))
    marked = [(im.permute(1, 2, 0).cpu().numpy() * 255).round().astype(np.uint8) for im in low]
    logits = codec.extract(marked)
    acc = ((logits > 0) == key.carried_bits()[None].astype(bool)).mean(axis=1)
    return {"n_images": len(x), "psnr_bf16_vs_fp32_db": [float(-10 * torch.log10(m)) for m in mse],
            "bit_accuracy_bf16_marked": acc.tolist()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--out", type=Path, default=RESULTS / "speed_gpu.json")
    ap.add_argument("--no-compile", action="store_true")
    ap.add_argument("--host-size", type=int, default=256, help="the hosts' input side, px")
    ap.add_argument("--device", default="cuda", help="cpu: a smoke run of the same code (no memory part)")
    args = ap.parse_args()
    global DEVICE
    DEVICE = args.device
    torch.backends.cudnn.benchmark = True
    key = generate_key(64)
    doc = {"device": torch.cuda.get_device_name(0) if DEVICE == "cuda" else "cpu", "torch": torch.__version__,
           "date": time.strftime("%Y-%m-%d"), "iters": args.iters}
    parts = {"throughput": lambda: throughput(args, key), "hosts": lambda: hosts(args, key),
             "memory": lambda: memory(args, key) if DEVICE == "cuda" else [],
             "bf16_fidelity": lambda: bf16_fidelity(key)}
    if not args.no_compile:
        parts["compile"] = lambda: compiled(args, key)
    for name, part in parts.items():
        try:
            doc[name] = part()
        except Exception:
            doc[name] = {"error": traceback.format_exc()[-1500:]}
        write_json(args.out, doc)  # after each part: a cut-off run keeps what it measured
    print(json.dumps(doc, indent=2))


if __name__ == "__main__":
    main()
