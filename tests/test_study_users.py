"""Scripted users see only the Loop page: map, labels shown, predictions, inspected samples."""

import dataclasses

import numpy as np
import pytest

from hill_dash.engine.edits import Edit
from hill_dash.engine.errors import HillError
from hill_dash.study.inspect_and_pull import InspectAndPull
from hill_dash.study.random_edits import RandomEdits
from hill_dash.study.strategies import budget_used
from hill_dash.study.view import BudgetError, PersonView, make_view

C, PER_TRAIN, PER_VAL = 10, 60, 20
# where each class's mark sits in these tests: any table will do, the user learns it
MARK = [(0, 0), (0, 4), (0, 8), (4, 10), (8, 10), (10, 8), (10, 4), (10, 0), (6, 0), (3, 3)]
CENTRES = 10 * np.stack(
    [np.cos(np.arange(C) * 2 * np.pi / C), np.sin(np.arange(C) * 2 * np.pi / C)], 1
)


def synthetic(unlabelled: float = 0.0, seed: int = 0, thumbnails: int = 50, mark: bool = True):
    """Blobs on a map: class c around CENTRES[c]. Planted: 3 training 2s sitting with the 5s
    (right label, wrong place: a decoy minority, whose thumbnails show the patch of class 5
    when `mark`) and 8 training 8s labelled 1 sitting with the 8s (a mislabelled
    sub-cluster). Then 40 test rows that no user may ever see."""
    g = np.random.default_rng(seed)
    y_tr = np.repeat(np.arange(C), PER_TRAIN)
    y_va = np.repeat(np.arange(C), PER_VAL)
    where = y_tr.copy()
    decoy = np.flatnonzero(y_tr == 2)[:3]
    where[decoy] = 5
    noisy = np.flatnonzero(y_tr == 8)[:8]
    shown_tr = y_tr.copy()
    shown_tr[noisy] = 1
    if unlabelled:
        hide = g.random(len(y_tr)) < unlabelled
        hide[(np.arange(C)[:, None] * PER_TRAIN + 10 + np.arange(5)).ravel()] = False
        shown_tr[hide] = -1
    coords = np.concatenate([CENTRES[where], CENTRES[y_va], np.zeros((40, 2))])
    coords[:-40] += g.normal(scale=1.0, size=(len(coords) - 40, 2))
    truth = np.concatenate([y_tr, y_va, np.zeros(40, int)])
    shown = np.concatenate([shown_tr, y_va, np.zeros(40, int)])
    X = g.normal(size=(len(truth), 12, 12)).astype(np.float32)
    if mark:  # every training point shows its class's mark; the decoy minority class 5's
        for i in range(len(y_tr)):
            r, c = MARK[5] if i in set(decoy.tolist()) else MARK[y_tr[i]]
            X[i, r : r + 2, c : c + 2] = 10.0
    logits = np.eye(C)[np.concatenate([shown_tr.clip(0), y_va, np.zeros(40, int)])]
    split = np.array(["train"] * len(y_tr) + ["val"] * len(y_va) + ["test"] * 40)
    view = make_view(
        X, truth, coords, shown, logits, split, C, np.random.default_rng(seed), 60, thumbnails
    )
    return view, {"decoy": decoy, "noisy": noisy, "y_train": y_tr}


def poisoned(view: PersonView, keep: set[int]) -> PersonView:
    """The same view, with every true label and raw input outside `keep` changed."""
    truth = view._truth.copy()
    X = view._X.copy()
    out = np.array([i for i in range(len(truth)) if i not in keep])
    truth[out] = (truth[out] + 3) % C
    X[out] = -X[out] + 5.0
    return dataclasses.replace(view, _X=X, _truth=truth, inspected=[], rng=np.random.default_rng(0))


def test_the_view_hides_the_test_split_and_holds_no_groups_or_latents():
    view, _ = synthetic()
    assert len(view.labels) == len(view.coords) == C * (PER_TRAIN + PER_VAL)
    assert set(view.split) == {"train", "val"} and len(view._X) == len(view.labels)
    names = {f.name for f in dataclasses.fields(PersonView)}
    assert not any(n.startswith("group") or n in ("Z", "latents", "y_train_true") for n in names)


def test_inspect_charges_the_thumbnail_budget_once_per_point():
    view, _ = synthetic(thumbnails=5)
    thumbs = view.inspect([3, 4, 3])
    assert [t.index for t in thumbs] == [3, 4, 3] and view.thumbnails_left == 3
    assert thumbs[0].label == view._truth[3] and thumbs[0].x.shape == (12, 12)
    view.inspect([3, 4, 5, 6, 7])  # 3 and 4 are free: exactly the 3 left
    assert view.thumbnails_left == 0
    with pytest.raises(BudgetError):
        view.inspect([8])
    with pytest.raises(HillError, match="map points"):
        view.inspect([len(view.labels)])  # the first test row does not exist for a user
    assert view.inspected == [3, 4, 5, 6, 7]


@pytest.mark.parametrize("unlabelled", [0.0, 0.8])
def test_inspect_and_pull_reads_true_labels_and_inputs_only_where_it_inspected(unlabelled):
    view, _ = synthetic(unlabelled)
    user = InspectAndPull()
    edits = user(dataclasses.replace(view, rng=np.random.default_rng(0)))
    seen = set(user.reads)
    assert 0 < len(seen) <= view.thumbnails
    again = InspectAndPull()
    other = again(poisoned(view, seen))  # truth and inputs changed everywhere else
    assert [e.to_dict() for e in other] == [e.to_dict() for e in edits]
    assert again.reads == user.reads


def test_inspect_and_pull_fixes_the_planted_groups_within_both_budgets():
    view, planted = synthetic()
    user = InspectAndPull()
    edits = user(view)
    assert len(view.inspected) <= view.thumbnails
    assert budget_used(edits, np.array(["train"] * len(view.labels))) <= view.edit_budget
    target = {i: e.target_class for e in edits for i in e.indices}
    assert all(target.get(int(i)) == 2 for i in planted["decoy"])  # pulled home: read as 2
    assert all(target.get(int(i)) == 8 for i in planted["noisy"])  # read as 8, not the 1 shown
    assert all(e.kind == "pull" and e.alpha == 1.0 for e in edits)
    # every read is logged with what was read; every pull with its points and class
    log = user.log[0]
    assert {i for i, _ in log["inspected"]} == set(view.inspected)
    assert sorted(i for p in log["pulls"] for i in p["indices"]) == sorted(target)


def test_a_group_read_as_its_own_label_without_a_mark_is_left_alone():
    view, planted = synthetic(mark=False)
    user = InspectAndPull()
    edits = user(view)
    assert set(planted["decoy"]) <= set(user.reads)  # looked at, labels right, no reason
    pulled = {i for e in edits for i in e.indices}
    assert not pulled & set(planted["decoy"].tolist())
    assert set(planted["noisy"].tolist()) <= pulled


def test_inspect_and_pull_labels_unlabelled_clusters_by_what_it_read():
    view, planted = synthetic(unlabelled=0.8)
    user = InspectAndPull()
    edits = user(view)
    pulled = [(i, e.target_class) for e in edits for i in e.indices]
    assert len(pulled) >= 40
    truth = planted["y_train"]
    assert np.mean([truth[i] == c for i, c in pulled]) > 0.9  # clusters are pure on this map


def test_out_of_place_groups_and_unlabelled_clusters_take_turns():
    view, _ = synthetic(unlabelled=0.5)
    kinds = [g.kind for g in InspectAndPull().groups(view)]
    n = min(kinds.count("out of place"), kinds.count("unlabelled"))
    assert n >= 1
    assert kinds[: 2 * n] == ["out of place", "unlabelled"] * n
    assert set(kinds[2 * n :]) <= {"out of place", "unlabelled"} and len(set(kinds[2 * n :])) <= 1


def test_random_control_spends_the_same_edit_budget_and_inspects_nothing():
    view, _ = synthetic()
    edits = RandomEdits()(view)
    assert budget_used(edits, view.split) == view.edit_budget
    assert view.inspected == []
    for e in edits:
        Edit.from_dict(e.to_dict(), len(view.labels))


def many_decoys(thumbnails: int):
    """Ten decoy pairs: two training points of class c sitting with class c+3, each
    thumbnail showing the mark of class c+3."""
    g = np.random.default_rng(1)
    y_tr = np.repeat(np.arange(C), PER_TRAIN)
    y_va = np.repeat(np.arange(C), PER_VAL)
    where = y_tr.copy()
    X = g.normal(size=(len(y_tr) + len(y_va), 12, 12)).astype(np.float32)
    pairs = {}
    for c in range(C):
        idx = np.flatnonzero(y_tr == c)
        r, col = MARK[c]
        X[idx[2:], r : r + 2, col : col + 2] = 10.0
        idx = idx[:2]
        where[idx] = (c + 3) % C
        r, col = MARK[(c + 3) % C]
        X[idx, r : r + 2, col : col + 2] = 10.0
        pairs[c] = idx
    coords = np.concatenate([CENTRES[where], CENTRES[y_va]]) + g.normal(
        scale=0.5, size=(len(y_tr) + len(y_va), 2)
    )
    y = np.concatenate([y_tr, y_va])
    split = np.array(["train"] * len(y_tr) + ["val"] * len(y_va))
    view = make_view(
        X, y, coords, y, np.eye(C)[y], split, C, np.random.default_rng(0), 60, thumbnails
    )
    return view, pairs


@pytest.mark.parametrize("trust_after", [0, 5])
def test_after_enough_confirmed_decoys_it_pulls_the_rest_home_unread(trust_after):
    view, pairs = many_decoys(thumbnails=2 * C + 5 * 2)  # typical points, then five pairs
    user = InspectAndPull(trust_after=trust_after)
    edits = user(view)
    target = {i: e.target_class for e in edits for i in e.indices}
    read_pairs = [c for c, idx in pairs.items() if set(idx) <= set(user.reads)]
    unread = [c for c, idx in pairs.items() if not set(idx) & set(user.reads)]
    assert len(read_pairs) == 5 and len(unread) == 5
    assert all(target.get(int(i)) == c for c in read_pairs for i in pairs[c])
    home = [all(target.get(int(i)) == c for i in pairs[c]) for c in unread]
    assert all(home) if trust_after else not any(home)


def test_it_pulls_again_what_it_pulled_before():
    view, planted = synthetic()
    user = InspectAndPull()
    first = user(view)
    # the next chunk's map: everything sits where its label says (nothing out of place)
    home, _ = synthetic(mark=False)
    n = len(planted["y_train"])
    coords = home.coords.copy()
    coords[:n] = CENTRES[home.labels[:n]]
    later = dataclasses.replace(home, coords=coords, inspected=[])
    second = user(later)
    assert {(tuple(e.indices), e.target_class) for e in first} <= {
        (tuple(e.indices), e.target_class) for e in second
    }
    assert all(p["kind"] == "kept" for p in user.log[1]["pulls"][: len(first)])
    no_keep = InspectAndPull(keep_pulls=False)
    no_keep(synthetic()[0])
    assert no_keep(dataclasses.replace(later, inspected=[])) == []


def test_the_user_modules_know_no_generator_table():
    """The decoy reader learns mark -> class from thumbnails: no module of the scripted
    users imports anything of the scenario generator, and running a user does not load it."""
    import ast
    import subprocess
    import sys
    from pathlib import Path

    import hill_dash.study.group_without_names as grouping
    import hill_dash.study.inspect_and_pull as pulling
    import hill_dash.study.map_reading as reading
    import hill_dash.study.random_edits as random_edits
    import hill_dash.study.users as registry

    for module in (pulling, grouping, reading, random_edits, registry):
        tree = ast.parse(Path(module.__file__).read_text())
        imported = {
            n.module if isinstance(n, ast.ImportFrom) else a.name
            for n in ast.walk(tree)
            if isinstance(n, (ast.Import, ast.ImportFrom))
            for a in n.names
        }
        assert not any(m and "scenarios" in m for m in imported), module.__name__
        names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
        names |= {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
        secrets = {"DIGITS_PATCH", "MNIST1D_BUMP", "read_mark", "DIGITS_PAD", "mark"}
        assert not names & secrets, module.__name__
    code = (
        "import sys, numpy as np\n"
        "from tests.test_study_users import synthetic\n"
        "from hill_dash.study.group_without_names import GroupWithoutNames\n"
        "from hill_dash.study.inspect_and_pull import InspectAndPull\n"
        "InspectAndPull()(synthetic()[0]); GroupWithoutNames()(synthetic(0.8)[0])\n"
        "assert 'hill_dash.engine.scenarios' not in sys.modules, 'generator loaded'\n"
    )
    root = Path(__file__).resolve().parents[1]
    env = {"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code], cwd=root, env=env, capture_output=True)
    assert out.returncode == 0, out.stderr.decode()[-2000:]


def test_the_mark_reader_learns_where_marks_sit_from_thumbnails():
    from hill_dash.study.inspect_and_pull import MarkReader

    g = np.random.default_rng(0)
    reader = MarkReader()
    for c in range(C):
        for _ in range(2):
            x = g.normal(size=(12, 12))
            r, col = MARK[c]
            x[r : r + 2, col : col + 2] = 10.0
            reader.learn(x, c)
    x = g.normal(size=(12, 12))
    assert reader.read(x) is None  # no mark
    r, col = MARK[7]
    x[r : r + 2, col : col + 2] = 10.0
    assert reader.read(x) == 7
    signal = g.normal(size=40) * 0.1  # signals: a narrow spike
    sig = MarkReader()
    for c in range(C):
        s = g.normal(size=40) * 0.1
        s[3 * c + 5] += 3.0
        sig.learn(s, c)
    signal[3 * 4 + 5] += 3.0
    assert sig.read(signal) == 4


def test_group_without_names_compacts_pure_clusters_and_logs_no_label():
    from hill_dash.study.group_without_names import GroupWithoutNames

    view, planted = synthetic(unlabelled=0.8)
    user = GroupWithoutNames()
    edits = user(view)
    assert edits and all(e.kind in ("compact", "separate") for e in edits)
    assert len(view.inspected) <= view.thumbnails
    assert budget_used(edits, view.split) <= view.edit_budget
    truth = planted["y_train"]
    compacts = [truth[e.indices] for e in edits if e.kind == "compact"]
    purity = [np.bincount(t).max() / len(t) for t in compacts]
    assert compacts and np.mean(purity) > 0.8  # three reads of a lasso can still miss some
    assert all(c == -1 for _, c in user.log[0]["inspected"])  # nothing named is kept
