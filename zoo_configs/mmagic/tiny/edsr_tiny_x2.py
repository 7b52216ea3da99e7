# MMagic's own EDSR x2 config, shrunk for CPU tests: 8 channels, 1 block, 60 iterations (~3 s), images in ./data
# (HR/ and LR/, the same file names). Add the watermark flag by inheriting this file (see tests/test_mmagic.py).
_base_ = 'mmagic::edsr/edsr_x2c64b16_1xb16-300k_div2k.py'

experiment_name = 'edsr_tiny_x2'
work_dir = f'./work_dirs/{experiment_name}'
randomness = dict(seed=0)  # tests train on it: the same weights on every run
model = dict(generator=dict(mid_channels=8, num_blocks=1))

train_pipeline = [
    dict(type='LoadImageFromFile', key='img', color_type='color', channel_order='rgb', imdecode_backend='cv2'),
    dict(type='LoadImageFromFile', key='gt', color_type='color', channel_order='rgb', imdecode_backend='cv2'),
    dict(type='SetValues', dictionary=dict(scale=2)),
    dict(type='PairedRandomCrop', gt_patch_size=32),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    num_workers=0, batch_size=2,
    dataset=dict(ann_file='', data_root='data', data_prefix=dict(img='LR', gt='HR'), pipeline=train_pipeline))
val_dataloader = dict(num_workers=0, dataset=dict(data_root='data', data_prefix=dict(img='LR', gt='HR')))
optim_wrapper = dict(optimizer=dict(lr=2e-3))
train_cfg = dict(max_iters=60, val_interval=60)
default_hooks = dict(checkpoint=dict(interval=60, out_dir=None), logger=dict(interval=10))
custom_hooks = []
test_dataloader = [dict(
    num_workers=0, persistent_workers=False, drop_last=False, sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='BasicImageDataset', metainfo=dict(dataset_type='tiny', task_name='sisr'), data_root='data',
                 data_prefix=dict(img='LR', gt='HR'), pipeline=_base_.test_pipeline))]
test_evaluator = [dict(type='Evaluator', metrics=[dict(type='PSNR', crop_border=2, prefix='tiny')])]
