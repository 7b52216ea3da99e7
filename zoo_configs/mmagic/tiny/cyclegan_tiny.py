# MMagic's own CycleGAN (facades) config, shrunk for CPU tests: 8-channel ResNet generators with one block.
_base_ = 'mmagic::cyclegan/cyclegan_lsgan-resnet-in_1xb1-80kiters_facades.py'

model = dict(
    generator=dict(base_channels=8, num_blocks=1),
    discriminator=dict(base_channels=8))
