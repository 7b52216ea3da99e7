# EDSR x4 (DIV2K): MMagic's own config, unchanged, plus the watermark flag (two lines).
# Train: wm mmagic-train edsr_x4_div2k_wm.py
#   (or MMagic's tools/train.py edsr_x4_div2k_wm.py with wm_mmagic installed)
_base_ = 'mmagic::edsr/edsr_x4c64b16_1xb16-300k_div2k.py'

custom_imports = dict(imports=['wm_mmagic'], allow_failed_imports=False)
watermark = dict(key='owner.key', mode='absorb')
