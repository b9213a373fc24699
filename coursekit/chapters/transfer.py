"""Transfer learning and what a convnet has learned: the shared pieces of chapter 9.

A small convolutional network and its training loop, frozen features, the two maps that
say which pixels a decision depends on (saliency and occlusion), the receptive field of a
unit, a contrastive loss for Siamese embeddings and one-shot recognition by nearest
neighbour. Images are ``(N, 28, 28)`` or ``(N, 1, 28, 28)`` float32 in [0, 1].
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def small_convnet(channels: tuple[int, int] = (8, 16), outputs: int = 10) -> nn.Sequential:
    """conv 5x5 (1 -> c1), ReLU, max-pool 2, conv 3x3 (c1 -> c2), ReLU, max-pool 2, flatten, linear.

    Input ``(N, 1, 28, 28)``; ``net[:7]`` is the feature extractor, ``(N, c2 * 7 * 7)``;
    ``net[7]`` the linear head, ``(N, outputs)``; ``net[:5]`` the second layer's
    rectified maps, ``(N, c2, 14, 14)``.

    The convolution weights are stored channels-last (NHWC), so the maps are too: the same
    shapes and values up to rounding, and about a third faster to train on a CPU (the
    convolutions and poolings of these small maps run faster in that layout).
    """
    c1, c2 = channels
    net = nn.Sequential(
        nn.Conv2d(1, c1, 5, padding=2),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(c1, c2, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(c2 * 7 * 7, outputs),
    )
    for weight in net.parameters():
        if weight.dim() == 4:  # the convolutions' (out, in, k, k)
            weight.data = weight.data.to(memory_format=torch.channels_last)
    return net


def as_batch(images, device="cpu") -> torch.Tensor:
    """``(N, 28, 28)`` array or tensor -> ``(N, 1, 28, 28)`` float32 tensor on ``device``."""
    x = torch.as_tensor(np.asarray(images) if not torch.is_tensor(images) else images)
    if x.dim() == 3:
        x = x.unsqueeze(1)
    return x.float().to(device)


def train_steps(
    model: nn.Module,
    images,
    labels,
    steps: int,
    param_groups,
    batch_size: int = 32,
    seed: int = 0,
    loss_fn=F.cross_entropy,
    device="cpu",
) -> list[float]:
    """Adam for exactly ``steps`` minibatch steps over reshuffled passes of the data.

    ``param_groups``: what ``torch.optim.Adam`` takes (a list of dicts with their own
    ``lr``). The batches are drawn by a NumPy generator seeded with ``seed``, so two
    calls with the same seed see the same batches. Returns the loss of every step.
    """
    x, y = as_batch(images, device), torch.as_tensor(np.asarray(labels)).long().to(device)
    rng = np.random.default_rng(seed)
    opt = torch.optim.Adam(param_groups)
    model.train()
    losses, order = [], np.empty(0, dtype=np.int64)
    for _ in range(steps):
        if len(order) < batch_size:
            order = np.concatenate([order, rng.permutation(len(y))])
        idx, order = torch.as_tensor(order[:batch_size]).to(device), order[batch_size:]
        loss = loss_fn(model(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    return losses


@torch.no_grad()
def predict(model: nn.Module, images, device="cpu", batch_size: int = 1000) -> torch.Tensor:
    """Outputs of ``model`` in evaluation mode, ``(N, outputs)``, on ``device``."""
    model.eval()
    x = as_batch(images, device)
    return torch.cat([model(x[i : i + batch_size]) for i in range(0, len(x), batch_size)])


def accuracy(model: nn.Module, images, labels, device="cpu") -> float:
    """Fraction of ``images`` whose largest output is at their label."""
    pred = predict(model, images, device).argmax(1).cpu().numpy()
    return float((pred == np.asarray(labels)).mean())


def fit_linear(
    features: torch.Tensor, labels, steps: int = 100, weight_decay: float = 1e-3, seed: int = 0
) -> nn.Linear:
    """A softmax (logistic-regression) classifier on frozen ``(N, D)`` features.

    Full-batch L-BFGS on the mean cross-entropy plus ``weight_decay / 2 * |W|^2``;
    returns an ``nn.Linear(D, classes)`` on the features' device.
    """
    y = torch.as_tensor(np.asarray(labels)).long().to(features.device)
    torch.manual_seed(seed)
    head = nn.Linear(features.shape[1], int(y.max()) + 1).to(features.device)
    opt = torch.optim.LBFGS(head.parameters(), lr=1, max_iter=steps, history_size=10, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(head(features), y) + weight_decay / 2 * head.weight.pow(2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return head


def saliency_map(model: nn.Module, image, target: int, device="cpu") -> np.ndarray:
    """``|d score_target / d pixel|`` for one ``(28, 28)`` image: ``(28, 28)`` float32.

    The score is the output before the softmax (the class score), not the loss.
    """
    model.eval()
    x = as_batch(np.asarray(image)[None], device).requires_grad_(True)
    model(x)[0, target].backward()
    assert x.grad is not None
    return x.grad[0, 0].abs().cpu().numpy()


def occlusion_map(score_fn, image: np.ndarray, size: int, stride: int, fill: float = 0.0) -> np.ndarray:
    """How much the score drops when a ``size x size`` square of ``image`` is set to ``fill``.

    ``score_fn``: ``(B, H, W)`` array -> ``(B,)`` scores. The square slides with ``stride``
    over the ``(H, W)`` image, staying inside it; entry ``(i, j)`` of the result,
    ``((H - size) // stride + 1, (W - size) // stride + 1)``, is
    ``score(image) - score(image with rows i*stride ... i*stride+size-1 and the same
    columns occluded)``.
    """
    H, W = image.shape
    rows, cols = (H - size) // stride + 1, (W - size) // stride + 1
    batch = np.repeat(image[None], rows * cols, axis=0)
    for k in range(rows * cols):
        i, j = divmod(k, cols)
        batch[k, i * stride : i * stride + size, j * stride : j * stride + size] = fill
    base = np.asarray(score_fn(image[None]))[0]
    return (base - np.asarray(score_fn(batch))).reshape(rows, cols)


def window_sums(values: np.ndarray, size: int, stride: int) -> np.ndarray:
    """Sums of ``values`` over the same squares as :func:`occlusion_map` (same output shape)."""
    H, W = values.shape
    rows, cols = (H - size) // stride + 1, (W - size) // stride + 1
    return np.array(
        [
            [values[i * stride : i * stride + size, j * stride : j * stride + size].sum() for j in range(cols)]
            for i in range(rows)
        ]
    )


def ranks(x: np.ndarray) -> np.ndarray:
    """Ranks 0..n-1 of the flattened ``x``, ties sharing their average rank."""
    from scipy.stats import rankdata

    return rankdata(np.asarray(x).ravel(), method="average") - 1.0


def rank_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation of two arrays of the same size."""
    return float(np.corrcoef(ranks(a), ranks(b))[0, 1])


def receptive_field(layers) -> tuple[int, int, int]:
    """Size, jump and start of the input window seen by a unit after a stack of layers.

    ``layers``: ``(kernel, stride, padding)`` per layer, input first. Unit ``i`` of the
    last layer sees input rows ``start + i * jump ... start + i * jump + size - 1``
    (negative rows lie in the padding).
    """
    size, jump, start = 1, 1, 0
    for kernel, stride, padding in layers:
        size += (kernel - 1) * jump
        start -= padding * jump
        jump *= stride
    return size, jump, start


def top_units(maps: np.ndarray, k: int) -> list[tuple[int, ...]]:
    """The ``k`` largest entries of ``(N, H, W)`` maps as ``(n, i, j)``, largest first."""
    flat = np.argsort(maps.ravel(), kind="stable")[::-1][:k]
    return [tuple(int(v) for v in np.unravel_index(f, maps.shape)) for f in flat]


def top_images(maps: np.ndarray, k: int) -> list[tuple[int, int, int]]:
    """One entry per image: the ``k`` images of ``(N, H, W)`` maps whose largest value is
    largest, each as ``(n, i, j)`` at its own maximum, largest first (as Zeiler and Fergus
    show a unit's top patches: never two from one image)."""
    flat = maps.reshape(len(maps), -1)
    best = flat.argmax(axis=1)
    order = np.argsort(flat[np.arange(len(maps)), best], kind="stable")[::-1][:k]
    rows, cols = np.unravel_index(best[order], maps.shape[1:])
    return [(int(n), int(i), int(j)) for n, i, j in zip(order, rows, cols)]


def crop(image: np.ndarray, top: int, left: int, size: int) -> np.ndarray:
    """The ``(size, size)`` window of ``image`` at ``(top, left)``, zeros outside it."""
    pad = size
    padded = np.pad(image, pad)
    return padded[top + pad : top + pad + size, left + pad : left + pad + size]


def contrastive_loss(z1: torch.Tensor, z2: torch.Tensor, same: torch.Tensor, margin: float = 1.0) -> torch.Tensor:
    """Mean of ``d^2`` for pairs of one class and ``max(0, margin - d)^2`` for the others.

    ``z1, z2``: ``(N, D)`` embeddings of the two images of each pair; ``same``: ``(N,)``
    1.0 where the pair shares a class, 0.0 otherwise; ``d`` the Euclidean distance.
    """
    d = (z1 - z2).pow(2).sum(1).add(1e-12).sqrt()
    return (same * d.pow(2) + (1 - same) * F.relu(margin - d).pow(2)).mean()


def one_shot_hits(
    embeddings: np.ndarray, labels: np.ndarray, classes, galleries: int, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """k-way one-shot recognition among ``classes`` by the nearest neighbour, query by query.

    Every example of one of the k ``classes`` is a query ``galleries`` times; each time a
    gallery draws one *other* example of each of the k classes, and the query is right when
    its nearest gallery embedding (Euclidean) is the one of its own class. ``embeddings``:
    ``(N, D)``; ``labels``: ``(N,)``. Returns ``(queries, rate)``: the indices of the query
    examples, ``(Q,)``, and the share of its galleries in which each one was right,
    ``(Q,)``. Chance is 1/k. The rates of one query are correlated (the same query digit),
    so an interval for the mean is taken over queries (:func:`bootstrap_interval`).
    """
    rng = np.random.default_rng(seed)
    classes = [int(c) for c in classes]
    members = {c: np.flatnonzero(labels == c) for c in classes}
    queries = np.concatenate([members[c] for c in classes])
    rate = np.empty(len(queries))
    for n, q in enumerate(queries):
        others = {c: m[m != q] for c, m in members.items()}
        right = 0
        for _ in range(galleries):
            gallery = np.array([rng.choice(others[c]) for c in classes])
            nearest = int(np.argmin(((embeddings[gallery] - embeddings[q]) ** 2).sum(1)))
            right += classes[nearest] == int(labels[q])
        rate[n] = right / galleries
    return queries, rate


def bootstrap_interval(
    values: np.ndarray, level: float = 0.95, resamples: int = 2000, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``values``, ``(N,)``, resampled with replacement."""
    values = np.asarray(values, dtype=float)
    rng = np.random.default_rng(seed)
    means = values[rng.integers(len(values), size=(resamples, len(values)))].mean(axis=1)
    low, high = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return float(low), float(high)
