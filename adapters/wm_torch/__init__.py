"""The plain-PyTorch adapter: any ``nn.Module`` class named as ``module:Class(kwargs)``, weights in a state dict.

For models that live in no zoo: ``wm verify --arch 'my_models.unet:UNet(width=32)' --model suspect.pth``.
"""
