"""Cell expansion and keys: stable, content-addressed, insensitive to where a run happens."""

from statebench.bench.config import load_config
from statebench.bench.run.matrix import derive_seed, expand


def test_expand_is_the_full_product():
    cfg = load_config(preset="smoke", overrides=["seeds=[0, 1]", "train.lr=[1e-3, 3e-3]"])
    cells = expand(cfg)
    assert len(cells) == len(cfg.archs) * len(cfg.tasks) * 2 * 2
    assert len({c.key for c in cells}) == len(cells)


def test_keys_are_stable_and_ignore_location():
    a = expand(load_config(preset="smoke"))
    b = expand(load_config(preset="smoke", overrides=["out_dir='elsewhere'", "device='cpu'"]))
    assert [c.key for c in a] == [c.key for c in b]
    c = expand(load_config(preset="smoke", overrides=["train.steps=61"]))
    assert not {x.key for x in a} & {x.key for x in c}


def test_derived_seeds_separate_streams():
    assert derive_seed("train", 0) != derive_seed("eval", 0)
    assert derive_seed("train", 0) == derive_seed("train", 0)
    assert 0 <= derive_seed("x") < 2**63
