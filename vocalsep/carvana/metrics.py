"""Overlap scores and losses for masks: Dice and IoU (Jaccard), and the Dice loss."""

import torch
import torch.nn.functional as F


def dice_coeff(pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Mean Dice over the batch.

    Two empty masks agree perfectly (Dice 1); an empty prediction of a non-empty mask scores 0.

    Args:
        pred: (N, H, W) (or any (N, ...)) in [0, 1], probabilities or 0/1.
        target: the true masks, same shape and range as pred.
        eps: added to numerator and denominator, so that empty masks give 1, not 0/0.

    Returns:
        A 0-d float tensor: the mean of the per-sample Dice coefficients.
    """
    pred, target = pred.flatten(1).float(), target.flatten(1).float()
    inter = (pred * target).sum(1)
    sums = pred.sum(1) + target.sum(1)
    dice = (2 * inter + eps) / (sums + eps)
    return dice.mean()


def iou(pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Mean intersection over union over the batch, same conventions as dice_coeff.

    Args:
        pred: (N, H, W) (or any (N, ...)) in [0, 1], probabilities or 0/1.
        target: the true masks, same shape and range as pred.
        eps: added to numerator and denominator, so that empty masks give 1, not 0/0.

    Returns:
        A 0-d float tensor: the mean of the per-sample IoU (Jaccard index).
    """
    pred, target = pred.flatten(1).float(), target.flatten(1).float()
    inter = (pred * target).sum(1)
    union = pred.sum(1) + target.sum(1) - inter
    return ((inter + eps) / (union + eps)).mean()


def multiclass_dice(pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Mean Dice over samples and classes, each (sample, class) plane scored on its own.

    Args:
        pred: (N, C, H, W), one-hot or probabilities.
        target: (N, C, H, W), one-hot.
        eps: as in dice_coeff.

    Returns:
        A 0-d float tensor: the mean Dice of the N * C planes.
    """
    return dice_coeff(pred.flatten(0, 1), target.flatten(0, 1), eps)


def one_hot(mask: torch.Tensor, n_classes: int) -> torch.Tensor:
    """One-hot planes of a class-index mask.

    Args:
        mask: (N, H, W) integer (long) class indices, each below n_classes.
        n_classes: number of classes C.

    Returns:
        (N, C, H, W) float, 1 where the pixel is of that class.
    """
    return F.one_hot(mask, n_classes).permute(0, 3, 1, 2).float()


def segmentation_loss(logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Training loss: BCE + Dice loss (one class, sigmoid) or cross-entropy + Dice loss (softmax).

    The Dice loss (1 - soft Dice) keeps small or thin objects from being drowned out by the
    background pixels, which dominate the per-pixel term.

    Args:
        logits: (N, C, H, W) network output; C == 1 means a binary mask.
        mask: (N, H, W) long class indices (0/1 for one class).

    Returns:
        A 0-d float tensor, the loss to minimise.
    """
    n_classes = logits.shape[1]
    logits = logits.float()
    if n_classes == 1:
        logits = logits.squeeze(1)
        target = mask.float()
        return (F.binary_cross_entropy_with_logits(logits, target)
                + 1 - dice_coeff(torch.sigmoid(logits), target))
    return (F.cross_entropy(logits, mask)
            + 1 - multiclass_dice(torch.softmax(logits, 1), one_hot(mask, n_classes)))


def predict_mask(logits: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    """Class indices of the network's logits: sigmoid threshold (one class) or softmax argmax.

    Args:
        logits: (N, C, H, W).
        threshold: probability above which a pixel is foreground (one class only).

    Returns:
        (N, H, W) long class indices (0/1 for one class).
    """
    if logits.shape[1] == 1:
        return (torch.sigmoid(logits[:, 0]) > threshold).long()
    return logits.argmax(1)


def mask_scores(pred: torch.Tensor, target: torch.Tensor, n_classes: int) -> dict[str, float]:
    """Dice and IoU of one predicted class-index mask against the truth (foreground classes only).

    Args:
        pred: (H, W) long class indices, predicted.
        target: (H, W) long class indices, true.
        n_classes: the model's classes; 1 means binary (any non-zero value is foreground).
            With several classes, class 0 (the background) is left out of the mean.

    Returns:
        {"dice": float, "iou": float}.
    """
    if n_classes == 1:
        p, t = (pred > 0)[None], (target > 0)[None]
        return {"dice": float(dice_coeff(p, t)), "iou": float(iou(p, t))}
    p = one_hot(pred[None], n_classes)[:, 1:]
    t = one_hot(target[None], n_classes)[:, 1:]
    return {"dice": float(multiclass_dice(p, t)), "iou": float(iou(p.flatten(0, 1), t.flatten(0, 1)))}
