"""Buggy submissions for homework 8 (transfer learning, saliency, occlusion, triplet loss).

Each entry patches one solution cell of ``solutions/hw8_transfer/hw8_transfer.ipynb`` with a
classic mistake: ``find`` occurs exactly once in the cell whose nbgrader ``grade_id`` is
``cell`` and is replaced by ``replace``. Graded, the patched notebook must fail exactly the
test cells listed in ``breaks`` (and no other), and the failure message must contain
``message`` (case-insensitive). No part calls another one, so every bug costs one part.
"""

BUGS = [
    # Part 1: the linear probe on a frozen backbone.
    dict(
        name="probe_not_frozen",
        cell="train_linear_probe",
        find="    for p in backbone.parameters():\n        p.requires_grad_(False)\n",
        replace="",
        breaks=["train_linear_probe_tests"],
        message="still require gradients",
    ),
    dict(
        name="probe_backbone_given_to_optimiser",
        cell="train_linear_probe",
        find="    with torch.no_grad():\n        features = backbone(images)\n"
        "    optimizer = torch.optim.SGD(head.parameters(), lr=lr)\n"
        "    for _ in range(steps):\n        loss = F.cross_entropy(head(features), labels)\n",
        replace="    backbone.requires_grad_(True)\n"
        "    optimizer = torch.optim.SGD(list(backbone.parameters()) + list(head.parameters()), lr=lr)\n"
        "    for _ in range(steps):\n        loss = F.cross_entropy(head(backbone(images)), labels)\n",
        breaks=["train_linear_probe_tests"],
        message="the backbone's weights changed",
    ),
    dict(
        name="probe_eval_forgotten",
        cell="train_linear_probe",
        find="    backbone.eval()\n",
        replace="",
        breaks=["train_linear_probe_tests"],
        message="call backbone.eval()",
    ),
    dict(
        name="probe_sum_of_losses",
        cell="train_linear_probe",
        find="loss = F.cross_entropy(head(features), labels)",
        replace="loss = F.cross_entropy(head(features), labels, reduction='sum')",
        breaks=["train_linear_probe_tests"],
        message="MEAN cross-entropy",
    ),
    dict(
        name="probe_gradients_accumulate",
        cell="train_linear_probe",
        find="        optimizer.zero_grad()\n",
        replace="",
        breaks=["train_linear_probe_tests"],
        message="call optimizer.zero_grad()",
    ),
    # Part 2: fine-tuning with one learning rate per group.
    dict(
        name="finetune_same_learning_rate",
        cell="finetune_optimizer",
        find='"lr": lr * backbone_factor}',
        replace='"lr": lr}',
        breaks=["finetune_optimizer_tests"],
        message="same learning rate as the head",
    ),
    dict(
        name="finetune_backbone_left_frozen",
        cell="finetune_optimizer",
        find="    backbone.requires_grad_(True)\n",
        replace="",
        breaks=["finetune_optimizer_tests"],
        message="make them trainable again",
    ),
    dict(
        name="finetune_no_momentum",
        cell="finetune_optimizer",
        find="lr=lr, momentum=momentum)",
        replace="lr=lr)",
        breaks=["finetune_optimizer_tests"],
        message="shows no momentum",
    ),
    # Part 3: the saliency map.
    dict(
        name="saliency_of_the_loss",
        cell="saliency_map",
        find="picked = scores.gather(1, labels.view(-1, 1)).sum()",
        replace="picked = F.cross_entropy(scores, labels)",
        breaks=["saliency_map_tests"],
        message="gradient of the loss",
    ),
    dict(
        name="saliency_without_abs",
        cell="saliency_map",
        find="grad.abs().amax(dim=1)",
        replace="grad.amax(dim=1)",
        breaks=["saliency_map_tests"],
        message="absolute value",
    ),
    dict(
        name="saliency_sum_over_channels",
        cell="saliency_map",
        find="grad.abs().amax(dim=1)",
        replace="grad.abs().sum(dim=1)",
        breaks=["saliency_map_tests"],
        message="not their sum",
    ),
    # Part 4: occlusion sensitivity.
    dict(
        name="occlusion_stride_off_by_one",
        cell="occlusion_map",
        find="rows = range(0, H - patch + 1, stride)\n    cols = range(0, W - patch + 1, stride)",
        replace="rows = range(0, H - patch, stride)\n    cols = range(0, W - patch, stride)",
        breaks=["occlusion_map_tests"],
        message="stride is off by one",
    ),
    dict(
        name="occlusion_zero_fill",
        cell="occlusion_map",
        find="j:j + patch] = fill",
        replace="j:j + patch] = 0.0",
        breaks=["occlusion_map_tests"],
        message="filled with the value fill",
    ),
    dict(
        name="occlusion_records_score",
        cell="occlusion_map",
        find="return (base - scores).reshape",
        replace="return scores.reshape",
        breaks=["occlusion_map_tests"],
        message="record its DROP",
    ),
    dict(
        name="occlusion_wrong_sign",
        cell="occlusion_map",
        find="return (base - scores).reshape",
        replace="return (scores - base).reshape",
        breaks=["occlusion_map_tests"],
        message="wrong sign",
    ),
    # Part 5: the triplet loss.
    dict(
        name="triplet_squared_distances",
        cell="triplet_loss",
        find="gap_pos = torch.linalg.vector_norm(anchor - positive, dim=1)    # its gradient at 0 is 0, not NaN\n"
        "    gap_neg = torch.linalg.vector_norm(anchor - negative, dim=1)",
        replace="gap_pos = ((anchor - positive) ** 2).sum(dim=1)\n    gap_neg = ((anchor - negative) ** 2).sum(dim=1)",
        breaks=["triplet_loss_tests"],
        message="not their squares",
    ),
    dict(
        name="triplet_no_clamp",
        cell="triplet_loss",
        find="torch.clamp(gap_pos - gap_neg + margin, min=0).mean()",
        replace="(gap_pos - gap_neg + margin).mean()",
        breaks=["triplet_loss_tests"],
        message="clamp each triplet's term at zero",
    ),
    dict(
        name="triplet_margin_on_wrong_term",
        cell="triplet_loss",
        find="gap_pos - gap_neg + margin",
        replace="gap_pos - (gap_neg + margin)",
        breaks=["triplet_loss_tests"],
        message="margin applied to the wrong term",
    ),
    dict(
        name="triplet_nan_at_zero_distance",
        cell="triplet_loss",  # review H2-24: only a hidden triplet has a = p
        find="gap_pos = torch.linalg.vector_norm(anchor - positive, dim=1)    # its gradient at 0 is 0, not NaN\n"
        "    gap_neg = torch.linalg.vector_norm(anchor - negative, dim=1)",
        replace="gap_pos = ((anchor - positive) ** 2).sum(dim=1).sqrt()\n"
        "    gap_neg = ((anchor - negative) ** 2).sum(dim=1).sqrt()",
        breaks=["triplet_loss_tests"],
        message="contains NaN or inf. A triplet whose anchor equals",
    ),
    # Part 5, the rule (review H2-11): PyTorch's own loss or distance, whatever its name.
    dict(
        name="triplet_builtin_imported",
        cell="triplet_loss",
        find="return torch.clamp(gap_pos - gap_neg + margin, min=0).mean()",
        replace="from torch.nn.functional import triplet_margin_loss as tml\n"
        "    return tml(anchor, positive, negative, margin=margin, eps=0.0)",
        breaks=["triplet_loss_tests"],
        message="must compute the distances, the hinge and the mean itself",
    ),
    dict(
        name="triplet_pairwise_distance",
        cell="triplet_loss",
        find="gap_neg = torch.linalg.vector_norm(anchor - negative, dim=1)",
        replace="gap_neg = F.pairwise_distance(anchor, negative, eps=0.0)",
        breaks=["triplet_loss_tests"],
        message="F.pairwise_distance and torch.cdist are not allowed",
    ),
    # Part 6: integrated gradients.
    dict(
        name="ig_left_riemann_sum",
        cell="integrated_gradients",
        find="alphas = (torch.arange(steps, dtype=image.dtype) + 0.5) / steps",
        replace="alphas = torch.arange(steps, dtype=image.dtype) / steps",
        breaks=["integrated_gradients_tests"],
        message="you used j / steps",
    ),
    dict(
        name="ig_average_gradient_only",
        cell="integrated_gradients",
        find="return grads.mean(dim=0) * (image - start)",
        replace="return grads.mean(dim=0)",
        breaks=["integrated_gradients_tests"],
        message="multiply the average gradient by (x - baseline)",
    ),
    dict(
        name="ig_sum_of_gradients",
        cell="integrated_gradients",
        find="return grads.mean(dim=0) * (image - start)",
        replace="return grads.sum(dim=0) * (image - start)",
        breaks=["integrated_gradients_tests"],
        message="do not sum them",
    ),
    dict(
        name="ig_baseline_ignored",
        cell="integrated_gradients",
        find="start = torch.zeros_like(image) if baseline is None else baseline.to(image.dtype)",
        replace="start = torch.zeros_like(image)",
        breaks=["integrated_gradients_tests"],
        message="use the baseline you are given",
    ),
    dict(
        name="ig_absolute_value",
        cell="integrated_gradients",
        find="return grads.mean(dim=0) * (image - start)",
        replace="return (grads.mean(dim=0) * (image - start)).abs()",
        breaks=["integrated_gradients_tests"],
        message="integrated gradients are signed",
    ),
    dict(
        name="ig_gradient_at_the_image",
        cell="integrated_gradients",
        find="alphas = (torch.arange(steps, dtype=image.dtype) + 0.5) / steps",
        replace="alphas = torch.ones(steps, dtype=image.dtype)",
        breaks=["integrated_gradients_tests"],
        message="not at x alone",
    ),
]
