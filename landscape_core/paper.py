"""The paper's published numbers (Lin, Li, Wu, arXiv 2404.06391), for side-by-side comparison.

Table 1: five Adam minima per setting, a center trained 200 epochs with B_r = 1, B_t = 3;
means over the 10 pairs of the maximum training loss and minimum training accuracy along
the direct segments and along the fold-lines through the center (the paper's "barrier").
Table 2: two minima per setting, a center fitted with the squared-distance penalty; the NGD
upper bound U and the minimum training accuracy along its fold-line.
"""

TABLE1 = {
    "MNIST VGG16": {"segment_max_loss": 16.91, "fold_max_loss": 3.1e-05,
                    "segment_min_acc": 0.2855, "fold_min_acc": 1.0000},
    "MNIST FNN": {"segment_max_loss": 1.25, "fold_max_loss": 1.1e-03,
                  "segment_min_acc": 0.6809, "fold_min_acc": 0.9996},
    "CIFAR-10 VGG16": {"segment_max_loss": 6.21, "fold_max_loss": 5.0e-03,
                       "segment_min_acc": 0.1079, "fold_min_acc": 0.9999},
    "CIFAR-10 ResNet34": {"segment_max_loss": 3.28, "fold_max_loss": 1.0e-02,
                          "segment_min_acc": 0.4121, "fold_min_acc": 0.9965},
}

TABLE2 = {
    "FNN+MNIST": {"ngd_upper_bound": 1.003, "fold_min_acc": 0.9989},
    "VGG16+MNIST": {"ngd_upper_bound": 1.001, "fold_min_acc": 0.9925},
    "VGG16+CIFAR10": {"ngd_upper_bound": 1.051, "fold_min_acc": 0.9991},
    "ResNet18+CIFAR10": {"ngd_upper_bound": 1.003, "fold_min_acc": 0.9963},
}

TABLE1_ROWS = {
    "segment_max_loss": "loss barrier, direct segment (mean max train loss)",
    "fold_max_loss": "loss barrier, fold-line (mean max train loss)",
    "segment_min_acc": "accuracy 'barrier', direct segment (mean min train accuracy)",
    "fold_min_acc": "accuracy 'barrier', fold-line (mean min train accuracy)",
}
