# Restormer deraining (Rain13K): MMagic's own config, unchanged, plus the watermark flag (two lines).
# Train: wm mmagic-train restormer_rain13k_wm.py
#   (or MMagic's tools/train.py restormer_rain13k_wm.py with wm_mmagic installed)
_base_ = 'mmagic::restormer/restormer_official_rain13k.py'

custom_imports = dict(imports=['wm_mmagic'], allow_failed_imports=False)
watermark = dict(key='owner.key', mode='absorb')
