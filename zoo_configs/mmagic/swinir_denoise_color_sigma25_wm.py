# SwinIR colour denoising, sigma 25 (DFWB): MMagic's own config, unchanged, plus the watermark flag (two lines).
# Train: wm mmagic-train swinir_denoise_color_sigma25_wm.py
_base_ = 'mmagic::swinir/swinir_s128w8d6e180_8xb1-lr2e-4-1600k_dfwb-colorDN25.py'

custom_imports = dict(imports=['wm_mmagic'], allow_failed_imports=False)
watermark = dict(key='owner.key', mode='absorb')
