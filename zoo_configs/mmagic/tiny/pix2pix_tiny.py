# MMagic's own Pix2Pix (facades: mask -> photo) config, shrunk for CPU tests: a 5-level U-Net with 8 channels.
_base_ = 'mmagic::pix2pix/pix2pix_vanilla-unet-bn_1xb1-80kiters_facades.py'

model = dict(
    generator=dict(num_down=5, base_channels=8),
    discriminator=dict(base_channels=8))
