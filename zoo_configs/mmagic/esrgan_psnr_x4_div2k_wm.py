# RRDBNet x4, PSNR-oriented stage of ESRGAN (DIV2K): MMagic's own config, unchanged, plus the watermark
# flag (two lines).
# Train: wm mmagic-train esrgan_psnr_x4_div2k_wm.py
#   (or MMagic's tools/train.py esrgan_psnr_x4_div2k_wm.py with wm_mmagic installed)
_base_ = 'mmagic::esrgan/esrgan_psnr-x4c64b23g32_1xb16-1000k_div2k.py'

custom_imports = dict(imports=['wm_mmagic'], allow_failed_imports=False)
watermark = dict(key='owner.key', mode='absorb')
