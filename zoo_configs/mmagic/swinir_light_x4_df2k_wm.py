# SwinIR-light x4 (the lightweight SR model of the SwinIR paper: 4 stages of 6 blocks, 60 channels,
# pixel-shuffle-direct upsampler) on MMagic's own SwinIR x4 config, plus the watermark flag (two lines).
# Train: wm mmagic-train swinir_light_x4_df2k_wm.py
_base_ = 'mmagic::swinir/swinir_psnr-x4s64w8d6e180_8xb4-lr1e-4-600k_df2k-ost.py'

model = dict(generator=dict(
    depths=[6, 6, 6, 6], embed_dim=60, num_heads=[6, 6, 6, 6], mlp_ratio=2, upsampler='pixelshuffledirect'))

custom_imports = dict(imports=['wm_mmagic'], allow_failed_imports=False)
watermark = dict(key='owner.key', mode='absorb')
