"""The malaria network (train_malaria.py): CellNet, the small CNN; Normalised, the wrapper the torch
export holds (pixel values 0..255 in, logits out); and the dihedral views in torch, in the order
of malaria_graph.DIHEDRAL."""

import malaria_graph
import torch
import torch.nn as nn

from malaria_config import LABELS


class CellNet(nn.Module):
    """4 stages of conv3×3-BN-ReLU + max-pool, widths w, 2w, 4w, 8w; global average pool; linear."""

    def __init__(self, width=16, convs_per_stage=1, stages=4, dropout=0.2):
        super().__init__()
        layers, cin = [], 3
        for s in range(stages):
            cout = width * 2 ** s
            for _ in range(convs_per_stage):
                layers += [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
                cin = cout
            layers.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout), nn.Linear(cin, len(LABELS)))
        self.description = (
            f"{stages} stages of {convs_per_stage}×(Conv3×3 no-bias + BatchNorm + ReLU) then MaxPool2×2, channels "
            + "/".join(str(width * 2 ** s) for s in range(stages))
            + f"; GlobalAveragePool; Dropout {dropout}; Linear {cin}→{len(LABELS)}"
        )

    def forward(self, x):  # x: float NCHW, normalised
        return self.head(self.features(x))


class Normalised(nn.Module):
    """What the torch export holds: float NCHW pixel values 0..255 in, logits out. The per-channel
    normalisation (training split's mean and std) is part of the exported graph."""

    def __init__(self, net, mean, std):
        super().__init__()
        self.net = net
        self.register_buffer("scale", torch.tensor(1.0 / (255.0 * std), dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("shift", torch.tensor(-mean / std, dtype=torch.float32).view(1, 3, 1, 1))
        self.mean, self.std = mean, std

    def forward(self, x):
        return self.net(x * self.scale + self.shift)


def count_params(model):
    return sum(p.numel() for p in model.parameters())


def dihedral(x, k):
    """The k-th view of malaria_graph.DIHEDRAL, in torch: the same order as in the graph."""
    transpose, flip_h, flip_w = malaria_graph.DIHEDRAL[k]
    if transpose:
        x = x.transpose(2, 3)
    dims = [d for d, f in ((2, flip_h), (3, flip_w)) if f]
    return x.flip(dims) if dims else x
