"""Overlap scores and losses for masks: Dice and IoU (Jaccard), and the Dice loss."""

import torch
import torch.nn.functional as F


def dice_coeff(pred, target, eps=1e-6):
    """Mean Dice over the batch: pred, target (N, H, W) in [0, 1] (probabilities or 0/1).

    Two empty masks agree perfectly (Dice 1); an empty prediction of a non-empty mask scores 0.
    """
    pred, target = pred.flatten(1).float(), target.flatten(1).float()
    inter = (pred * target).sum(1)
    sums = pred.sum(1) + target.sum(1)
    dice = (2 * inter + eps) / (sums + eps)
    return dice.mean()


def iou(pred, target, eps=1e-6):
    """Mean intersection over union over the batch, same conventions as dice_coeff."""
    pred, target = pred.flatten(1).float(), target.flatten(1).float()
    inter = (pred * target).sum(1)
    union = pred.sum(1) + target.sum(1) - inter
    return ((inter + eps) / (union + eps)).mean()


def multiclass_dice(pred, target, eps=1e-6):
    """Mean Dice over classes: pred, target (N, C, H, W) one-hot or probabilities."""
    return dice_coeff(pred.flatten(0, 1), target.flatten(0, 1), eps)


def one_hot(mask, n_classes):
    """(N, H, W) class indices -> (N, C, H, W) float one-hot."""
    return F.one_hot(mask, n_classes).permute(0, 3, 1, 2).float()


def segmentation_loss(logits, mask):
    """BCE + Dice loss (one class, sigmoid) or cross-entropy + Dice loss (softmax classes)."""
    n_classes = logits.shape[1]
    logits = logits.float()
    if n_classes == 1:
        logits = logits.squeeze(1)
        target = mask.float()
        return (F.binary_cross_entropy_with_logits(logits, target)
                + 1 - dice_coeff(torch.sigmoid(logits), target))
    return (F.cross_entropy(logits, mask)
            + 1 - multiclass_dice(torch.softmax(logits, 1), one_hot(mask, n_classes)))


def predict_mask(logits, threshold=0.5):
    """Logits (N, C, H, W) -> class indices (N, H, W): sigmoid threshold or softmax argmax."""
    if logits.shape[1] == 1:
        return (torch.sigmoid(logits[:, 0]) > threshold).long()
    return logits.argmax(1)


def mask_scores(pred, target, n_classes):
    """{'dice', 'iou'} of a predicted class-index mask vs the truth (foreground classes only)."""
    if n_classes == 1:
        p, t = (pred > 0)[None], (target > 0)[None]
        return {"dice": float(dice_coeff(p, t)), "iou": float(iou(p, t))}
    p = one_hot(pred[None], n_classes)[:, 1:]
    t = one_hot(target[None], n_classes)[:, 1:]
    return {"dice": float(multiclass_dice(p, t)), "iou": float(iou(p.flatten(0, 1), t.flatten(0, 1)))}
