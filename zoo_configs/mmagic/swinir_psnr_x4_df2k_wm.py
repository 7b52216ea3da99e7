# SwinIR x4 (DF2K-OST): MMagic's own config, unchanged, plus the watermark flag (two lines).
# Train: wm mmagic-train swinir_psnr_x4_df2k_wm.py
#   (or MMagic's tools/train.py swinir_psnr_x4_df2k_wm.py with wm_mmagic installed)
_base_ = 'mmagic::swinir/swinir_psnr-x4s64w8d6e180_8xb4-lr1e-4-600k_df2k-ost.py'

custom_imports = dict(imports=['wm_mmagic'], allow_failed_imports=False)
watermark = dict(key='owner.key', mode='absorb')
