import pytest
import torch

from wm_plugin.errors import RegistryError, WeightsError
from wm_plugin.nets import create_net, is_net, list_nets, load_net, register_net, save_net
from wm_plugin.nets.embedder import smooth_chroma


def test_registry_lists_creates_and_rejects():
    assert list_nets() == sorted(list_nets())
    assert {"embedder_256", "extractor_256", "patch_discriminator"} <= set(list_nets())
    assert list_nets("extractor_*") == ["extractor_256"]
    assert is_net("embedder_256") and not is_net("nope")
    with pytest.raises(RegistryError, match="did you mean embedder_256"):
        create_net("embeder_256")


def test_duplicate_name_says_where_the_existing_one_lives():
    def embedder_256():
        return None

    with pytest.raises(RegistryError, match="already registered by wm_plugin.nets.embedder.embedder_256"):
        register_net(embedder_256)


def test_embedder_residual_has_unit_rms_and_is_odd_in_the_message():
    torch.manual_seed(0)
    h = create_net("embedder_256", size=64, bits=16).eval()
    x = torch.rand(2, 3, 64, 64)
    bits = torch.randint(0, 2, (2, 16))
    r = h(x, bits)
    assert r.shape == x.shape
    assert torch.allclose(r.pow(2).mean(dim=(1, 2, 3)), torch.ones(2), atol=1e-4)
    # the pattern decoder is linear and bias-free: flipping every bit flips the carrier
    assert torch.allclose(h.message_patterns(1 - bits), -h.message_patterns(bits), atol=1e-6)


def _finest_chroma_share(residual: torch.Tensor) -> float:
    """Share of the chroma's energy above 0.35 cycles/px (what a 4:2:0 JPEG cannot keep)."""
    chroma = residual - residual.mean(dim=1, keepdim=True)
    power = torch.fft.fft2(chroma).abs().square().sum(dim=(0, 1))
    fy, fx = torch.meshgrid(torch.fft.fftfreq(chroma.shape[-2]), torch.fft.fftfreq(chroma.shape[-1]), indexing="ij")
    return float(power[(fy.square() + fx.square()).sqrt() > 0.35].sum() / power.sum())


def test_chroma_smoothing_keeps_the_luma_and_removes_the_finest_chroma():
    torch.manual_seed(0)
    r = torch.randn(2, 3, 32, 40)
    smooth = smooth_chroma(r, 1)
    assert torch.allclose(smooth.mean(dim=1), r.mean(dim=1), atol=1e-6)  # luma untouched
    assert torch.equal(smooth_chroma(r, 0), r)
    yy, xx = torch.meshgrid(torch.arange(32), torch.arange(40), indexing="ij")
    board = ((yy + xx) % 2 * 2 - 1).float()  # the finest chroma there is: gone after one pass
    assert smooth_chroma(torch.stack([board, -board, 0 * board])[None], 1).abs().max() < 1e-6
    assert _finest_chroma_share(smooth) < 0.3 * _finest_chroma_share(r)


def test_embedder_with_chroma_smoothing_keeps_its_weights_and_its_setting(tmp_path):
    torch.manual_seed(0)
    sharp = create_net("embedder_256", size=64, bits=16).eval()
    smooth = create_net("embedder_256", size=64, bits=16, chroma_smoothing=1).eval()
    smooth.load_state_dict(sharp.state_dict())  # a setting, not weights: any trained H takes it
    save_net(smooth, tmp_path / "h.safetensors", name="embedder_256", config=smooth.config)
    back = load_net(tmp_path / "h.safetensors")
    assert back.chroma_smoothing == 1
    x, bits = torch.rand(1, 3, 64, 64), torch.randint(0, 2, (1, 16))
    with torch.no_grad():
        assert torch.allclose(back(x, bits), smooth(x, bits))
        assert _finest_chroma_share(smooth(x, bits)) < 0.5 * _finest_chroma_share(sharp(x, bits))


def test_extractor_reads_any_size():
    r = create_net("extractor_256", size=64, bits=16).eval()
    for hw in [(64, 64), (40, 90)]:
        assert r(torch.rand(1, 3, *hw)).shape == (1, 16)


def test_save_load_roundtrip_and_mismatch(tmp_path):
    net = create_net("extractor_256", size=64, bits=16)
    save_net(net, tmp_path / "r.safetensors", name="extractor_256", config={"size": 64, "bits": 16})
    back = load_net(tmp_path / "r.safetensors")
    x = torch.rand(1, 3, 64, 64)
    assert torch.equal(back(x), net.eval()(x))
    save_net(net, tmp_path / "bad.safetensors", name="extractor_256", config={"size": 64, "bits": 32})
    with pytest.raises(WeightsError, match="do not fit"):
        load_net(tmp_path / "bad.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"not safetensors at all")
    with pytest.raises(WeightsError, match="cannot read"):
        load_net(tmp_path / "junk.safetensors")
