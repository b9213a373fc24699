"""Buggy submissions for homework 8 (transfer learning, saliency, occlusion, triplet loss).

Each entry patches one solution cell of ``solutions/hw8_transfer/hw8_transfer.ipynb`` with a
classic mistake: ``find`` occurs exactly once in the cell whose nbgrader ``grade_id`` is
``cell`` and is replaced by ``replace``. Graded, the patched notebook must fail exactly the
test cells listed in ``breaks`` (and no other), and the failure message must contain
``message`` (case-insensitive). No part calls another one, so every bug costs one part.
"""

BUGS = [
    # Part 1: the linear probe on a frozen backbone.
    dict(name="probe_not_frozen", cell="train_linear_probe",
         find="    for p in backbone.parameters():\n        p.requires_grad_(False)\n", replace="",
         breaks=["train_linear_probe_tests"], message="still require gradients"),
    dict(name="probe_backbone_given_to_optimiser", cell="train_linear_probe",
         find="    with torch.no_grad():\n        features = backbone(images)\n"
              "    optimizer = torch.optim.SGD(head.parameters(), lr=lr)\n"
              "    for _ in range(steps):\n        loss = F.cross_entropy(head(features), labels)\n",
         replace="    backbone.requires_grad_(True)\n"
                 "    optimizer = torch.optim.SGD(list(backbone.parameters()) + list(head.parameters()), lr=lr)\n"
                 "    for _ in range(steps):\n        loss = F.cross_entropy(head(backbone(images)), labels)\n",
         breaks=["train_linear_probe_tests"], message="the backbone's weights changed"),
    dict(name="probe_eval_forgotten", cell="train_linear_probe",
         find="    backbone.eval()\n", replace="",
         breaks=["train_linear_probe_tests"], message="call backbone.eval()"),
    # Part 2: fine-tuning with one learning rate per group.
    dict(name="finetune_same_learning_rate", cell="finetune_optimizer",
         find='"lr": lr * backbone_factor}', replace='"lr": lr}',
         breaks=["finetune_optimizer_tests"], message="same learning rate as the head"),
    dict(name="finetune_backbone_left_frozen", cell="finetune_optimizer",
         find="    backbone.requires_grad_(True)\n", replace="",
         breaks=["finetune_optimizer_tests"], message="make them trainable again"),
    dict(name="finetune_no_momentum", cell="finetune_optimizer",
         find="lr=lr, momentum=momentum)", replace="lr=lr)",
         breaks=["finetune_optimizer_tests"], message="shows no momentum"),
    # Part 3: the saliency map.
    dict(name="saliency_of_the_loss", cell="saliency_map",
         find="picked = scores.gather(1, labels.view(-1, 1)).sum()", replace="picked = F.cross_entropy(scores, labels)",
         breaks=["saliency_map_tests"], message="gradient of the loss"),
    dict(name="saliency_without_abs", cell="saliency_map",
         find="grad.abs().amax(dim=1)", replace="grad.amax(dim=1)",
         breaks=["saliency_map_tests"], message="absolute value"),
    # Part 4: occlusion sensitivity.
    dict(name="occlusion_stride_off_by_one", cell="occlusion_map",
         find="rows = range(0, H - patch + 1, stride)\n    cols = range(0, W - patch + 1, stride)",
         replace="rows = range(0, H - patch, stride)\n    cols = range(0, W - patch, stride)",
         breaks=["occlusion_map_tests"], message="stride is off by one"),
    dict(name="occlusion_zero_fill", cell="occlusion_map",
         find="j:j + patch] = fill", replace="j:j + patch] = 0.0",
         breaks=["occlusion_map_tests"], message="filled with the value fill"),
    dict(name="occlusion_records_score", cell="occlusion_map",
         find="return (base - scores).reshape", replace="return scores.reshape",
         breaks=["occlusion_map_tests"], message="record its DROP"),
    # Part 5: the triplet loss.
    dict(name="triplet_squared_distances", cell="triplet_loss",
         find="d_pos = ((anchor - positive) ** 2).sum(dim=1).sqrt()\n    d_neg = ((anchor - negative) ** 2).sum(dim=1).sqrt()",
         replace="d_pos = ((anchor - positive) ** 2).sum(dim=1)\n    d_neg = ((anchor - negative) ** 2).sum(dim=1)",
         breaks=["triplet_loss_tests"], message="not their squares"),
    dict(name="triplet_no_clamp", cell="triplet_loss",
         find="torch.clamp(d_pos - d_neg + margin, min=0).mean()", replace="(d_pos - d_neg + margin).mean()",
         breaks=["triplet_loss_tests"], message="clamp each triplet's term at zero"),
    dict(name="triplet_margin_on_wrong_term", cell="triplet_loss",
         find="d_pos - d_neg + margin", replace="d_pos - (d_neg + margin)",
         breaks=["triplet_loss_tests"], message="margin applied to the wrong term"),
]
