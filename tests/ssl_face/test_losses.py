"""The face methods' losses against independent computations on small fixed tensors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from facerep.ssl.losses import fra, pcl, pros, simfle


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


# ----- ProS ---------------------------------------------------------------------------------------
def test_pros_distributions_sum_to_one_and_use_cosine_scores() -> None:
    g = torch.Generator().manual_seed(0)
    f, p = torch.randn(4, 8, generator=g) * 5, torch.randn(6, 8, generator=g)
    scores = pros.prototype_scores(f, p)
    unit_f = f.numpy() / np.linalg.norm(f.numpy(), axis=1, keepdims=True)
    unit_p = p.numpy() / np.linalg.norm(p.numpy(), axis=1, keepdims=True)
    expected = np.array([[a @ b for b in unit_p] for a in unit_f])
    np.testing.assert_allclose(scores.numpy(), expected, rtol=1e-5, atol=1e-6)
    for tau in (0.025, 0.1):
        s = pros.prototype_distribution(scores, tau)
        np.testing.assert_allclose(s.sum(dim=1).numpy(), 1.0, rtol=1e-6)
        assert (s >= 0).all()


def test_pros_cross_entropy_and_entropy_match_a_hand_computation() -> None:
    g = torch.Generator().manual_seed(1)
    students = [torch.rand(3, 5, generator=g) * 2 - 1 for _ in range(2)]
    teachers = [torch.rand(3, 5, generator=g) * 2 - 1 for _ in range(2)]
    ce, me = pros.pros_loss(students, [pros.prototype_distribution(t, 0.025) for t in teachers], 0.1)
    s = [_softmax(x.numpy() / 0.1) for x in students]
    t = [_softmax(x.numpy() / 0.025) for x in teachers]
    terms = []
    for i in range(3):
        pairs = [-(t[m][i] * np.log(s[n][i])).sum() for m in range(2) for n in range(2)]
        terms.append(sum(pairs) / 4)
    assert ce.item() == pytest.approx(np.mean(terms), rel=1e-5)
    mean = (s[0].sum(0) + s[1].sum(0)) / 6
    assert me.item() == pytest.approx(-(mean * np.log(mean)).sum(), rel=1e-5)


def test_pros_entropy_is_maximal_for_uniform_students() -> None:
    flat = [torch.zeros(4, 16)]
    _, me = pros.pros_loss(flat, [torch.randn(4, 16).softmax(dim=1)], 0.1)
    assert me.item() == pytest.approx(math.log(16), rel=1e-6)


# ----- FRA ----------------------------------------------------------------------------------------
def test_fra_heatmaps_sum_to_one_over_channels_at_every_pixel() -> None:
    g = torch.Generator().manual_seed(2)
    q, dense = torch.randn(2, 8, 6, generator=g), torch.randn(2, 6, 3, 4, generator=g)
    scores = fra.assignment_scores(q, dense)
    b, n, u, v = 1, 5, 2, 3
    a, c = q[b, n].numpy(), dense[b, :, u, v].numpy()
    assert scores[b, n, u, v].item() == pytest.approx(a @ c / np.linalg.norm(a) / np.linalg.norm(c), rel=1e-5)
    maps = fra.heatmaps(scores, 0.1)
    assert maps.shape == (2, 8, 3, 4)
    np.testing.assert_allclose(maps.sum(dim=1).numpy(), 1.0, rtol=1e-6)


def test_fra_region_pool_is_the_heatmap_weighted_mean() -> None:
    g = torch.Generator().manual_seed(3)
    maps = torch.softmax(torch.randn(1, 2, 2, 2, generator=g), dim=1)
    feats = torch.randn(1, 3, 2, 2, generator=g)
    pooled = fra.region_pool(maps, feats)
    m, f = maps[0].numpy().reshape(2, 4), feats[0].numpy().reshape(3, 4)
    expected = np.stack([(f * m[k]).sum(1) / m[k].sum() for k in range(2)])
    np.testing.assert_allclose(pooled[0].numpy(), expected, rtol=1e-5)


def test_fra_relation_loss_is_the_pixel_mean_cross_entropy_to_sinkhorn_targets() -> None:
    g = torch.Generator().manual_seed(4)
    online, target = torch.randn(2, 4, 2, 3, generator=g), torch.randn(2, 4, 2, 3, generator=g)
    ce, me = fra.relation_loss(online, target, 0.1, 0.05, 3)
    rows_t = target.permute(0, 2, 3, 1).reshape(-1, 4).numpy().astype(np.float64)
    q = np.exp((rows_t - rows_t.max()) / 0.05).T
    q /= q.sum()
    for _ in range(3):
        q /= q.sum(axis=1, keepdims=True) * 4
        q /= q.sum(axis=0, keepdims=True) * q.shape[1]
    q = (q * q.shape[1]).T
    pred = _softmax(online.permute(0, 2, 3, 1).reshape(-1, 4).numpy().astype(np.float64) / 0.1)
    assert ce.item() == pytest.approx(-(q * np.log(pred)).sum(1).mean(), rel=1e-4)
    mean = pred.mean(0)
    assert me.item() == pytest.approx(-(mean * np.log(mean)).sum(), rel=1e-5)


def test_fra_similarity_loss_weights_global_and_regions() -> None:
    z = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    regions = torch.tensor([[[1.0, 0.0], [0.0, 2.0]], [[1.0, 1.0], [3.0, 0.0]]])
    g, loc = fra.similarity_loss(z, z, regions, -regions, 0.5)
    assert g.item() == pytest.approx(-0.5)
    assert loc.item() == pytest.approx(0.5)


# ----- PCL ----------------------------------------------------------------------------------------
def test_pcl_orthogonality_is_zero_for_orthogonal_features_and_the_mean_square_dot_otherwise() -> None:
    f = torch.tensor([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0]])
    p = torch.tensor([[0.0, 3.0, 1.0], [5.0, 0.0, -1.0]])
    assert pcl.orthogonality_loss(f, p, f, p).item() == 0.0
    f_hat = torch.tensor([[1.0, 1.0, 0.0], [0.0, 1.0, 1.0]])
    expected = (0 + 0 + 3.0**2 + (-1.0) ** 2) / 2
    assert pcl.orthogonality_loss(f, p, f_hat, p).item() == pytest.approx(expected)


def test_pcl_disentangle_loss_is_four_l1_terms() -> None:
    s, s_hat = torch.zeros(1, 3, 2, 2), torch.ones(1, 3, 2, 2)
    recon = {"fp": s + 0.5, "fph": s_hat, "fhp": s - 2.0, "fhph": s_hat + 0.25}
    assert pcl.disentangle_loss(s, s_hat, recon).item() == pytest.approx(0.5 + 0 + 2.0 + 0.25)


def test_pcl_pose_contrast_matches_a_hand_computation() -> None:
    g = torch.Generator().manual_seed(5)
    pi, pj = torch.randn(3, 4, generator=g), torch.randn(3, 4, generator=g)
    neg = torch.randn(3, 2, 4, generator=g)

    def cos(a: np.ndarray, b: np.ndarray) -> float:
        return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))

    def one(a: np.ndarray, b: np.ndarray, n: np.ndarray) -> float:
        logits = np.array([cos(a, b)] + [cos(a, x) for x in n]) / 0.07
        return -logits[0] + np.log(np.exp(logits).sum())

    expected = np.mean([one(pi[k].numpy(), pj[k].numpy(), neg[k].numpy()) for k in range(3)]) + np.mean(
        [one(pj[k].numpy(), pi[k].numpy(), neg[k].numpy()) for k in range(3)]
    )
    assert pcl.pose_contrastive_loss(pi, pj, neg, 0.07).item() == pytest.approx(expected, rel=1e-5)


def test_pcl_face_contrast_matches_a_hand_computation() -> None:
    g = torch.Generator().manual_seed(6)
    fi, fj = torch.randn(3, 4, generator=g), torch.randn(3, 4, generator=g)
    z = np.concatenate([fi.numpy(), fj.numpy()])
    z = z / np.linalg.norm(z, axis=1, keepdims=True)
    sim = z @ z.T / 0.5

    def one(i: int, j: int) -> float:
        others = [k for k in range(6) if k != i]
        return -sim[i, j] + np.log(np.exp(sim[i, others]).sum())

    expected = np.mean([one(k, k + 3) + one(k + 3, k) for k in range(3)])
    assert pcl.face_contrastive_loss(fi, fj, 0.5).item() == pytest.approx(expected, rel=1e-5)


def test_pcl_dwa_weights_follow_eq_7() -> None:
    prev, before = torch.tensor([0.8, 2.0]), torch.tensor([1.0, 2.0])
    w = np.array([0.8, 1.0])
    expected = 2 * np.exp(w / 2) / np.exp(w / 2).sum()
    np.testing.assert_allclose(pcl.dwa_weights(prev, before, 2.0).numpy(), expected, rtol=1e-6)
    assert pcl.dwa_weights(prev, before, 2.0).sum().item() == pytest.approx(2.0)
    np.testing.assert_allclose(pcl.dwa_weights(before, before, 2.0).numpy(), [1.0, 1.0])


# ----- SimFLE -------------------------------------------------------------------------------------
def test_simfle_masks_exactly_75_percent_choosing_the_lowest_scoring_patches() -> None:
    g = torch.Generator().manual_seed(7)
    scores = torch.rand(3, 16, generator=g)
    mask = simfle.semantic_mask(scores, 0.75)
    assert mask.sum(dim=1).tolist() == [12, 12, 12]
    for row, m in zip(scores, mask, strict=True):
        assert row[m].max() < row[~m].min()
    assert simfle.semantic_mask(torch.rand(2, 49, generator=g), 0.75).sum(dim=1).tolist() == [37, 37]


def test_simfle_patch_scores_average_the_upsampled_group_map() -> None:
    maps = torch.zeros(1, 4, 2, 2)
    maps[0, 2, 0, 1] = 1.0
    maps[0, 3, 0, 1] = 2.0
    score_map = simfle.group_score_map(maps, groups=2, chosen=torch.tensor([1]))
    assert score_map[0].tolist() == [[0.0, 3.0], [0.0, 0.0]]
    constant = simfle.patch_scores(torch.full((1, 2, 2), 5.0), 8, 4)
    np.testing.assert_allclose(constant.numpy(), 5.0)
    top_right = simfle.patch_scores(score_map, 8, 4)
    assert top_right.argmax().item() == 1


def test_simfle_grouping_loss_rewards_grouping_similar_channels() -> None:
    a, b = torch.tensor([1.0, 0.0, 0.0, 0.0]), torch.tensor([0.0, 0.0, 1.0, 1.0])
    grouped = torch.stack([a, a, b, b]).reshape(1, 4, 2, 2)
    mixed = torch.stack([a, b, a, b]).reshape(1, 4, 2, 2)
    assert simfle.grouping_loss(grouped, 2).item() == pytest.approx(0.0 - 1.0)
    # mixed: same-group pairs (diagonal included) have cos^2 mean 4/8, cross-group pairs 4/8
    assert simfle.grouping_loss(mixed, 2).item() == pytest.approx(0.5 - 0.5)


def test_simfle_reconstruction_counts_masked_patches_only() -> None:
    img = torch.arange(2 * 3 * 4 * 4, dtype=torch.float32).reshape(2, 3, 4, 4)
    patches = simfle.patchify(img, 2)
    assert patches.shape == (2, 4, 12)
    assert patches[0, 1, :3].tolist() == [img[0, c, 0, 2].item() for c in range(3)]
    pred = patches.clone()
    pred[:, 0] += 3.0
    pred[:, 1] += 100.0
    mask = torch.tensor([[True, False, False, False], [True, False, True, False]])
    assert simfle.reconstruction_loss(patches, pred, mask).item() == pytest.approx(9.0 * 2 / 3)


def test_simfle_distillation_matches_kl_to_the_mean() -> None:
    g = torch.Generator().manual_seed(8)
    zs = [torch.randn(2, 5, generator=g) for _ in range(3)]
    mean = _softmax(np.mean([z.numpy() for z in zs], axis=0) / 4)
    expected = sum((mean * (np.log(mean) - np.log(_softmax(z.numpy() / 4)))).sum(1).mean() for z in zs)
    assert simfle.distillation_loss(zs, 4.0).item() == pytest.approx(expected, rel=1e-5)
    assert simfle.distillation_loss([zs[0]] * 3, 4.0).item() == pytest.approx(0.0, abs=1e-6)


def _patch_errors(errors: list[float], size: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    """Target and prediction patches (1, N_p, size) whose per-patch mean squared error is `errors`."""
    target = torch.zeros(1, len(errors), size)
    pred = torch.tensor(errors).sqrt()[None, :, None].expand(1, len(errors), size).clone()
    return target, pred


def test_simfle_refined_mask_is_the_semantic_mask_and_its_gradient_matches_a_hand_computation() -> None:
    """Forward: exactly eq. 3's mask. Backward: L_r's gradient on the scores, by hand: the masked mean
    error L = (e_1 + e_0) / 2 = 1.5 gives each masked patch dL/dw_i = (e_i - L) / N_m and each visible
    one 0; w_i = sigmoid((t - z_i) / T) with z the standardised scores and t midway between the 2nd and
    3rd lowest; then back through the standardisation."""
    scores = torch.tensor([[0.3, -1.0, 2.0, 0.5]], requires_grad=True)
    temperature = 0.7
    mask = simfle.refined_mask(scores, 0.5, temperature)
    assert mask.tolist() == simfle.semantic_mask(scores.detach(), 0.5).float().tolist() == [[1, 1, 0, 0]]
    errors = [2.0, 1.0, 7.0, 3.0]
    loss = simfle.reconstruction_loss(*_patch_errors(errors), mask)
    assert loss.item() == pytest.approx(1.5)
    loss.backward()

    a = scores.detach().numpy()[0].astype(np.float64)
    sigma = a.std()
    z = (a - a.mean()) / sigma
    t = (np.sort(z)[1] + np.sort(z)[2]) / 2
    w = 1 / (1 + np.exp(-(t - z) / temperature))
    dl_dw = np.array([(2.0 - 1.5) / 2, (1.0 - 1.5) / 2, 0.0, 0.0])
    g = dl_dw * -w * (1 - w) / temperature
    expected = (g - g.mean() - z * (g * z).mean()) / sigma
    np.testing.assert_allclose(scores.grad.numpy()[0], expected, rtol=1e-5, atol=1e-7)
    # the harder masked patch (0) is pushed up, towards being kept; the easier one (1) down
    assert scores.grad[0, 0] < 0 < scores.grad[0, 1]


def test_simfle_refinement_learns_to_keep_the_patches_that_are_hard_to_reconstruct() -> None:
    """Fig. 3 in miniature: 16 patch scores, four "landmark" patches whose reconstruction error is 10x
    the others' and which start among the masked 75%. Minimising L_r through `refined_mask` moves the
    scores until exactly the landmarks stay visible; through the plain sort (`semantic_mask`) L_r has no
    gradient to the scores at all."""
    g = torch.Generator().manual_seed(0)
    landmarks = [5, 6, 9, 10]
    errors = [1.0 if i in landmarks else 0.1 for i in range(16)]
    target, pred = _patch_errors(errors)
    start = torch.randn(1, 16, generator=g)
    start[0, landmarks] -= 1.0
    assert not (~simfle.semantic_mask(start, 0.75))[0, landmarks].all()
    plain = start.clone().requires_grad_(True)
    assert not simfle.reconstruction_loss(target, pred, simfle.semantic_mask(plain, 0.75)).requires_grad

    scores = start.clone().requires_grad_(True)
    optim = torch.optim.SGD([scores], lr=10.0)
    losses = []
    for _ in range(150):
        loss = simfle.reconstruction_loss(target, pred, simfle.refined_mask(scores, 0.75, 1.0))
        optim.zero_grad()
        loss.backward()
        optim.step()
        losses.append(loss.item())
    visible = (~simfle.semantic_mask(scores.detach(), 0.75))[0].nonzero().flatten().tolist()
    assert visible == landmarks
    assert losses[0] == pytest.approx(0.4) and losses[-1] == pytest.approx(0.1)
