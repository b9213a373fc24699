"""coursekit.chapters.transfer: the network's shapes, the training loop, frozen features, the saliency
and occlusion maps against hand-computed cases, receptive fields, ranks, the contrastive loss
and one-shot episodes."""

import copy
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn as nn

from coursekit.chapters import transfer


def test_small_convnet_shapes_and_parts():
    net = transfer.small_convnet((8, 16), outputs=10)
    x = torch.zeros(3, 1, 28, 28)
    assert net(x).shape == (3, 10)
    assert net[:7](x).shape == (3, 16 * 7 * 7)
    assert net[:5](x).shape == (3, 16, 14, 14)
    assert isinstance(net[7], nn.Linear)
    # 8 * 25 + 8 + 16 * 8 * 9 + 16 + 784 * 10 + 10
    assert sum(p.numel() for p in net.parameters()) == 208 + 1168 + 7850


def test_as_batch_adds_the_channel_axis():
    images = np.zeros((4, 28, 28), dtype=np.float64)
    x = transfer.as_batch(images)
    assert x.shape == (4, 1, 28, 28) and x.dtype == torch.float32
    assert transfer.as_batch(torch.zeros(2, 1, 5, 5)).shape == (2, 1, 5, 5)


def test_train_steps_counts_steps_is_reproducible_and_learns():
    rng = np.random.default_rng(0)
    images = rng.random((40, 28, 28)).astype(np.float32)
    labels = (images[:, :14].mean(axis=(1, 2)) > images[:, 14:].mean(axis=(1, 2))).astype(np.int64)
    runs = []
    for _ in range(2):
        torch.manual_seed(0)
        net = transfer.small_convnet(outputs=2)
        losses = transfer.train_steps(
            net, images, labels, 30, [{"params": net.parameters(), "lr": 1e-2}], batch_size=16, seed=3
        )
        runs.append((losses, transfer.accuracy(net, images, labels)))
    assert len(runs[0][0]) == 30
    assert runs[0] == runs[1]
    assert np.mean(runs[0][0][-5:]) < np.mean(runs[0][0][:5])


def test_train_steps_frozen_group_does_not_move():
    torch.manual_seed(0)
    net: Any = transfer.small_convnet(outputs=3)
    before = net[0].weight.detach().clone()
    for p in net[:7].parameters():
        p.requires_grad_(False)
    images = np.random.default_rng(1).random((12, 28, 28)).astype(np.float32)
    transfer.train_steps(net, images, np.arange(12) % 3, 5, [{"params": net[7].parameters(), "lr": 0.1}], batch_size=4)
    assert torch.equal(before, net[0].weight)


def test_fit_linear_separates_separable_features():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 5)) * 4
    labels = np.repeat(np.arange(3), 20)
    feats = torch.as_tensor(centres[labels] + rng.normal(size=(60, 5)), dtype=torch.float32)
    head = transfer.fit_linear(feats, labels, steps=50)
    assert isinstance(head, nn.Linear) and head.weight.shape == (3, 5)
    assert (head(feats).argmax(1).numpy() == labels).mean() == 1.0


def test_saliency_of_a_linear_model_is_its_weights():
    torch.manual_seed(0)
    model: Any = nn.Sequential(nn.Flatten(), nn.Linear(4 * 4, 3))
    image = np.random.default_rng(0).random((4, 4)).astype(np.float32)
    sal = transfer.saliency_map(model, image, target=2)
    assert sal.shape == (4, 4)
    np.testing.assert_allclose(sal, model[1].weight[2].detach().abs().reshape(4, 4).numpy(), rtol=1e-6)


def test_occlusion_map_by_hand():
    image = np.arange(16, dtype=np.float64).reshape(4, 4)

    def score(batch):  # the sum of the pixels: occluding removes the square's sum
        return batch.reshape(len(batch), -1).sum(1)

    occ = transfer.occlusion_map(score, image, size=2, stride=2)
    assert occ.shape == (2, 2)
    np.testing.assert_array_equal(occ, [[0 + 1 + 4 + 5, 2 + 3 + 6 + 7], [8 + 9 + 12 + 13, 10 + 11 + 14 + 15]])
    occ1 = transfer.occlusion_map(score, image, size=3, stride=1, fill=1.0)
    assert occ1.shape == (2, 2)
    assert occ1[0, 0] == image[:3, :3].sum() - 9
    # stride 3 with a square of 2 on 5 pixels: positions 0 and 3 only
    assert transfer.occlusion_map(score, np.ones((5, 5)), size=2, stride=3).shape == (2, 2)
    # for a linear score, occlusion equals the window sums of gradient * input
    np.testing.assert_array_equal(occ, transfer.window_sums(image, 2, 2))


def test_ranks_and_rank_correlation():
    np.testing.assert_array_equal(transfer.ranks(np.array([3.0, 1.0, 2.0])), [2, 0, 1])
    np.testing.assert_array_equal(transfer.ranks(np.array([0.0, 5.0, 0.0, 1.0])), [0.5, 3, 0.5, 2])
    a = np.array([1.0, 2.0, 3.0, 4.0])
    assert transfer.rank_correlation(a, a**3) == pytest.approx(1.0)
    assert transfer.rank_correlation(a, -a) == pytest.approx(-1.0)
    # against the textbook formula 1 - 6 sum d^2 / (n (n^2 - 1)) when there are no ties
    x, y = np.array([1.0, 5.0, 2.0, 8.0, 3.0]), np.array([2.0, 1.0, 4.0, 9.0, 7.0])
    d = transfer.ranks(x) - transfer.ranks(y)
    assert transfer.rank_correlation(x, y) == pytest.approx(1 - 6 * (d**2).sum() / (5 * 24))


def test_receptive_field_of_the_chapter_network_matches_autograd():
    size, jump, start = transfer.receptive_field([(5, 1, 2), (2, 2, 0), (3, 1, 1)])
    assert (size, jump, start) == (10, 2, -4)
    net = transfer.small_convnet()
    # positive weights, biases and input: no ReLU is off, so the window's every pooled
    # pixel reaches the unit (a random initialisation can switch the unit off: zero gradient)
    with torch.no_grad():
        for layer in (net[0], net[3]):
            assert isinstance(layer, torch.nn.Conv2d) and layer.bias is not None
            layer.weight.uniform_(0.1, 1.0)
            layer.bias.fill_(0.1)
    x = (torch.rand(1, 1, 28, 28, generator=torch.Generator().manual_seed(0)) + 0.5).requires_grad_()
    i, j = 6, 9
    net[:5](x)[0, 0, i, j].backward()
    assert x.grad is not None
    rows, cols = np.nonzero(x.grad[0, 0].numpy())
    assert len(rows) > 0, "the unit's gradient is zero everywhere"
    # the gradient is zero outside the window (inside, max-pooling picks one pixel of four)
    assert rows.min() >= start + i * jump and rows.max() <= start + i * jump + size - 1
    assert cols.min() >= start + j * jump and cols.max() <= start + j * jump + size - 1


def test_top_units_and_crop():
    maps = np.zeros((2, 3, 3))
    maps[1, 2, 0], maps[0, 1, 1], maps[1, 0, 2] = 5, 4, 3
    assert transfer.top_units(maps, 2) == [(1, 2, 0), (0, 1, 1)]
    image = np.arange(16.0).reshape(4, 4)
    np.testing.assert_array_equal(transfer.crop(image, -1, -1, 3), [[0, 0, 0], [0, 0, 1], [0, 4, 5]])
    np.testing.assert_array_equal(transfer.crop(image, 2, 2, 3), [[10, 11, 0], [14, 15, 0], [0, 0, 0]])


def test_contrastive_loss_by_hand():
    z1 = torch.tensor([[0.0, 0.0], [0.0, 0.0], [0.0, 0.0]])
    z2 = torch.tensor([[3.0, 4.0], [0.3, 0.4], [3.0, 4.0]])
    same = torch.tensor([1.0, 0.0, 0.0])
    # d = 5, 0.5, 5: same pair 25, different pairs (1 - 0.5)^2 = 0.25 and 0
    assert float(transfer.contrastive_loss(z1, z2, same, margin=1.0)) == pytest.approx((25 + 0.25 + 0) / 3)
    z = torch.randn(4, 3, requires_grad=True)
    transfer.contrastive_loss(z, z.detach() + 1, torch.ones(4)).backward()
    assert z.grad is not None and torch.isfinite(z.grad).all()


def test_one_shot_hits_perfect_and_chance():
    labels = np.repeat(np.arange(5), 10)
    separated = np.eye(5)[labels] * 10 + np.random.default_rng(0).normal(size=(50, 5)) * 0.01
    queries, rate = transfer.one_shot_hits(separated, labels, classes=[1, 3, 4], galleries=4)
    assert sorted(labels[queries]) == [1] * 10 + [3] * 10 + [4] * 10 and np.all(rate == 1)
    many = np.repeat(np.arange(5), 100)  # embeddings that ignore the class: chance, 1/4
    noise = np.random.default_rng(1).normal(size=(500, 5))
    _, rate = transfer.one_shot_hits(noise, many, classes=[0, 1, 2, 3], galleries=10, seed=1)
    assert rate.shape == (400,) and 0.2 < rate.mean() < 0.3


def test_one_shot_hits_never_puts_the_query_in_its_gallery():
    # class 0 at 0 and 100, class 1 at 49 and 51: a query of class 0 is nearer to class 1's
    # examples than to the other example of its class, so it is always wrong (it would always
    # be right at distance 0 from itself); a query of class 1 is always right
    labels = np.array([0, 0, 1, 1])
    emb = np.array([[0.0], [100.0], [49.0], [51.0]])
    queries, rate = transfer.one_shot_hits(emb, labels, classes=[0, 1], galleries=3)
    assert list(rate[labels[queries] == 0]) == [0, 0] and list(rate[labels[queries] == 1]) == [1, 1]


def test_bootstrap_interval_covers_the_mean_and_narrows_with_more_values():
    rng = np.random.default_rng(0)
    small, large = rng.random(30), rng.random(3000)
    lo_s, hi_s = transfer.bootstrap_interval(small)
    lo_l, hi_l = transfer.bootstrap_interval(large)
    assert lo_s < small.mean() < hi_s and lo_l < large.mean() < hi_l
    assert hi_l - lo_l < (hi_s - lo_s) / 5  # width ~ 1/sqrt(N): 10 times narrower
    assert transfer.bootstrap_interval(np.full(20, 0.7)) == pytest.approx((0.7, 0.7))


def test_top_images_takes_one_position_per_image():
    maps = np.zeros((4, 3, 3))
    maps[0, 0, 0], maps[0, 2, 2] = 9.0, 8.0  # image 0 holds the two largest values
    maps[1, 1, 2] = 5.0
    maps[2, 2, 0] = 7.0
    maps[3, 0, 1] = 1.0
    assert transfer.top_images(maps, 3) == [(0, 0, 0), (2, 2, 0), (1, 1, 2)]
    assert transfer.top_units(maps, 2) == [(0, 0, 0), (0, 2, 2)]  # by position: both from image 0


def test_small_convnet_is_channels_last_and_computes_what_the_usual_layout_does():
    """The NHWC layout is a speed choice only: same outputs and features (flattened in (C, H, W) order)."""
    torch.manual_seed(0)
    net = transfer.small_convnet()
    weight = dict(net.named_parameters())["3.weight"]  # (16, 8, 3, 3)
    assert weight.is_contiguous(memory_format=torch.channels_last) and not weight.is_contiguous()
    usual = copy.deepcopy(net)
    for w in usual.parameters():
        w.data = w.data.contiguous()
    assert dict(usual.named_parameters())["3.weight"].is_contiguous()
    x = torch.rand(5, 1, 28, 28)
    maps = net[:1](x)  # the first convolution's maps are channels-last too (its weight has one input channel)
    assert maps.is_contiguous(memory_format=torch.channels_last) and not maps.is_contiguous()
    torch.testing.assert_close(net(x), usual(x), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(net[:7](x), usual[:7](x), rtol=1e-5, atol=1e-5)
