"""Adam with a cosine-annealed learning rate on one tensor, written out (stage 2's optimiser).

Why not torch.optim: a process's first torch.optim optimiser imports torch._dynamo, and every
workflow job is a fresh process that takes only a few Adam steps, so that import would cost more
than the steps themselves while giving the same scores.
"""

import math

import torch


class CosineAdam:
    """Adam on one tensor, with the learning rate cosine-annealed from lr to 5 % of it.

    The update and defaults are torch.optim.Adam's and the schedule is torch's CosineAnnealingLR
    over `steps`, without importing torch.optim's torch._dynamo (see the module's docstring).
    tests/test_matching.py checks it step for step against torch.optim.

    Args:
        param: the leaf tensor optimised in place from its .grad.
        lr: the first step's learning rate.
        steps: the steps over which the rate falls to final_fraction * lr (at least 1).
        betas: Adam's decay rates of the gradient's first and second moments.
        eps: added to the denominator, for numerical stability.
        final_fraction: the last rate as a fraction of lr.
    """

    def __init__(self, param: torch.Tensor, lr: float, steps: int, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, final_fraction: float = 0.05) -> None:
        self.param, self.lr, self.steps = param, lr, max(1, steps)
        self.betas, self.eps, self.eta_min = betas, eps, final_fraction * lr
        self.m = torch.zeros_like(param)
        self.v = torch.zeros_like(param)
        self.t = 0

    def learning_rate(self, t: int) -> float:
        """The learning rate of a step, on the cosine from lr down to final_fraction * lr.

        Args:
            t: the step, 0-based.

        Returns:
            The learning rate of step t.
        """
        return self.eta_min + (self.lr - self.eta_min) * (1 + math.cos(math.pi * t / self.steps)) / 2

    @torch.no_grad()
    def step(self) -> None:
        """One Adam step on param from param.grad, in place (no gradient recorded)."""
        b1, b2 = self.betas
        g = self.param.grad
        lr = self.learning_rate(self.t)
        self.t += 1
        self.m.lerp_(g, 1 - b1)
        self.v.mul_(b2).addcmul_(g, g, value=1 - b2)
        denom = (self.v.sqrt() / math.sqrt(1 - b2**self.t)).add_(self.eps)
        self.param.addcdiv_(self.m, denom, value=-lr / (1 - b1**self.t))
