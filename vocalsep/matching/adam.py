"""Adam with a cosine-annealed learning rate on one tensor, written out (stage 2's optimiser).

Why not torch.optim: a process's first torch.optim optimiser imports torch._dynamo, and every
workflow job is a fresh process that takes only a few Adam steps. Measured end to end (the match
job of a 4.7 s demo clip, separate_song as a fresh process, alternated A/B five times each),
torch.optim.Adam with CosineAnnealingLR cost 1.7 s more CPU per job (median 10.5 s instead of
8.8 s) and 1.9 s more wall time (mean of the five pairs, on 2 busy cores), for the same scores.
"""

import math

import torch


class CosineAdam:
    """Adam on one tensor (torch.optim.Adam's update and defaults) with the learning rate
    cosine-annealed from lr to 5 % of it over `steps` (torch's CosineAnnealingLR), without
    importing torch.optim's torch._dynamo (see the module's docstring). tests/test_matching.py
    checks it step for step against torch.optim.

    param: the leaf tensor optimised in place from its .grad; lr: the first step's rate; steps:
    the steps over which the rate falls to final_fraction * lr."""

    def __init__(self, param, lr, steps, betas=(0.9, 0.999), eps=1e-8, final_fraction=0.05):
        self.param, self.lr, self.steps = param, lr, max(1, steps)
        self.betas, self.eps, self.eta_min = betas, eps, final_fraction * lr
        self.m = torch.zeros_like(param)
        self.v = torch.zeros_like(param)
        self.t = 0

    def learning_rate(self, t):
        """The learning rate of step t (0-based)."""
        return self.eta_min + (self.lr - self.eta_min) * (1 + math.cos(math.pi * t / self.steps)) / 2

    @torch.no_grad()
    def step(self):
        """One Adam step on param from param.grad."""
        b1, b2 = self.betas
        g = self.param.grad
        lr = self.learning_rate(self.t)
        self.t += 1
        self.m.lerp_(g, 1 - b1)
        self.v.mul_(b2).addcmul_(g, g, value=1 - b2)
        denom = (self.v.sqrt() / math.sqrt(1 - b2**self.t)).add_(self.eps)
        self.param.addcdiv_(self.m, denom, value=-lr / (1 - b1**self.t))
