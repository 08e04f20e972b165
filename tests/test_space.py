"""Tests of lightning_imc.space: dimensions, candidates, encoding, freezing, YAML, repairs."""

from __future__ import annotations

import json
import math
import pathlib
import random
import subprocess
import sys

import pytest
from omegaconf import OmegaConf

from lightning_imc.space import (
    DEFAULT_DEVICES,
    DEFAULT_INPUT_BITS,
    DEFAULT_WEIGHT_BITS,
    GROUPS,
    Candidate,
    ChildSpec,
    Condition,
    Dimension,
    SearchSpace,
    eds,
    get_space,
    load_space,
    register_space,
    rls,
    space_names,
    to_child,
    vls,
)

ROOT = pathlib.Path(__file__).resolve().parents[1]
CONF = ROOT / "conf" / "space"
BUILDERS = {"rls": rls, "vls": vls, "eds": eds}
ALL_SPACES = [(n, inc) for n in BUILDERS for inc in (GROUPS, ("architecture",), ("architecture", "quantization"))]


def _space(name: str, include=GROUPS) -> SearchSpace:
    return get_space(name, include=include)


# ------------------------------------------------------------------------------------------
# Encoding
# ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name,include", ALL_SPACES)
def test_encode_decode_round_trip(name, include):
    space = _space(name, include)
    rng = random.Random(1234)
    for _ in range(200):
        cand = space.sample(rng)
        codes = space.encode(cand)
        assert len(codes) == len(space.cardinalities)
        assert all(0 <= c < k for c, k in zip(codes, space.cardinalities))
        assert space.decode(codes) == cand
        assert space.encode(space.decode(codes)) == codes
        # every dimension, frozen ones included, appears in a decoded candidate
        assert set(cand) == {d.name for d in space.all_dimensions}


@pytest.mark.parametrize("name,include", ALL_SPACES)
def test_size_is_product_of_cardinalities(name, include):
    space = _space(name, include)
    assert isinstance(space.size, int)
    assert space.size == math.prod(space.cardinalities)
    assert space.distinct_size <= space.size


def test_rls_architecture_size_by_hand():
    space = rls(include=("architecture",))
    assert space.size == (4 * 4 * 4 * 2) ** 6 * 4
    assert len(space.names) == 6 * 4 + 1
    assert space.groups == {"architecture": space.names}
    # same via freezing the other groups of the full space
    full = rls()
    assert full.select_groups({"architecture"}).size == (4 * 4 * 4 * 2) ** 6 * 4


def test_full_space_sizes_by_hand():
    quant_per_layer = 4 * 7 * 4 * 7
    assert rls().size == (4 * 4 * 4 * 2) ** 6 * 4 * quant_per_layer**8 * 5 * 3 * 4 * 3
    assert vls().size == 4**8 * 4**2 * quant_per_layer**11 * 5 * 3 * 4 * 3
    assert vls(include=("architecture",), search_kernels=True).size == (4 * 4 * 4) ** 8 * 4**2


def test_space_groups_and_names():
    space = rls()
    assert list(space.groups) == list(GROUPS)
    assert space.groups["device"] == ["device"]
    assert space.groups["circuit"] == ["array_size", "adc_bits", "cols_per_adc"]
    assert len(space.groups["quantization"]) == 8 * 4
    assert space.dimension("device").choices == DEFAULT_DEVICES
    assert space.dimension("w_int_1").choices == (0, 1, 2, 3)
    assert space.dimension("a_frac_8").choices == (0, 1, 2, 3, 4, 5, 6)


def test_decode_accepts_numpy_like_and_tuples():
    space = rls(include=("architecture",))
    codes = tuple([0] * len(space))
    assert space.decode(codes) == space.decode(list(codes))

    class Idx:  # a minimal integer-like (NumPy scalars behave the same way)
        def __init__(self, v):
            self.v = v

        def __index__(self):
            return self.v

    assert space.decode([Idx(0)] * len(space)) == space.decode(codes)


def test_decode_errors():
    space = rls(include=("architecture",))
    n = len(space)
    with pytest.raises(ValueError, match=rf"got {n - 1} codes; expected {n}"):
        space.decode([0] * (n - 1))
    with pytest.raises(ValueError, match=r"code 4 for 'filters_1' out of range; allowed: 0..3"):
        space.decode([4] + [0] * (n - 1))
    with pytest.raises(ValueError, match=r"code -1 for 'filters_1'"):
        space.decode([-1] + [0] * (n - 1))
    with pytest.raises(ValueError, match=r"code for 'filters_1' is 1.5; must be an integer"):
        space.decode([1.5] + [0] * (n - 1))
    with pytest.raises(ValueError, match=r"must be an integer"):
        space.decode([True] + [0] * (n - 1))


def test_encode_errors():
    space = rls(include=("architecture",))
    cand = space.default_candidate()
    with pytest.raises(ValueError, match=r"filters_1=25; allowed: \[24, 36, 48, 64\]"):
        space.encode(cand.replace(filters_1=25))
    with pytest.raises(ValueError, match=r"unknown dimension\(s\) \['nope'\]"):
        space.encode({**cand, "nope": 1})
    d = cand.to_dict()
    del d["kh_3"]
    with pytest.raises(ValueError, match=r"no value for active dimension 'kh_3'"):
        space.encode(d)
    # booleans and integers are different choices
    with pytest.raises(ValueError, match=r"pool_1=1; allowed: \[False, True\]"):
        space.encode(cand.replace(pool_1=1))


# ------------------------------------------------------------------------------------------
# Conditional dimensions (EDS)
# ------------------------------------------------------------------------------------------

def test_eds_conditional_dimensions():
    space = eds(include=("architecture",))
    assert space.names[0] == "depth"
    assert space.size == 4 * 4**10
    assert space.distinct_size == 4**4 + 4**6 + 4**8 + 4**10
    codes = [0] * len(space)  # depth = 4
    cand = space.decode(codes)
    assert cand["depth"] == 4
    active = space.active(cand)
    assert active == ["depth", "filters_1", "filters_2", "filters_9", "filters_10"]
    for i in (3, 4, 5, 6, 7, 8):
        assert cand[f"filters_{i}"] is None
    # inactive codes are ignored by decode and written as 0 by encode
    other = list(codes)
    other[space.names.index("filters_5")] = 3
    assert space.decode(other) == cand
    assert space.encode(space.decode(other)) == codes
    # inactive values in a user-given candidate are ignored
    assert space.encode(cand.replace(filters_5=128)) == codes
    child = to_child(space, cand)
    assert [l.name for l in child.layers] == ["enc1", "enc2", "dec2", "dec1", "head"]


@pytest.mark.parametrize("depth", [4, 6, 8, 10])
def test_eds_shapes(depth):
    space = eds()
    cand = space.complete(space.default_candidate().replace(depth=depth, **{
        f"filters_{i}": 32 for i in range(1, 11)}))
    child = to_child(space, cand, input_shape=(3, 64, 64), num_classes=2)
    assert child.task == "segmentation"
    assert len(child.layers) == depth + 1
    enc = [l for l in child.layers if l.pool]
    dec = [l for l in child.layers if l.upsample]
    assert len(enc) == len(dec) == depth // 2
    assert child.layers[depth // 2 - 1].out_hw == (64 >> (depth // 2),) * 2
    assert child.output_shape == (2, 64, 64)
    assert child.layers[-1].kernel == (1, 1)
    assert all(l.kernel == (3, 3) for l in child.layers[:-1])
    assert child.layers[0].input_signed and not any(l.input_signed for l in child.layers[1:])
    assert child.repairs == ()


def test_eds_repairs_pool_and_upsample_on_small_input():
    space = eds(include=("architecture",))
    cand = space.canonical({**{f"filters_{i}": 16 for i in range(1, 11)}, "depth": 10})
    child = to_child(space, cand, input_shape=(1, 8, 8))  # 8 -> 4 -> 2 -> 1, 4th and 5th pools do not fit
    assert [l.pool for l in child.layers[:5]] == [True, True, True, False, False]
    assert [l.upsample for l in child.layers[5:10]] == [True, True, True, False, False]
    assert child.output_shape == (1, 8, 8)
    assert child.repairs == (
        "enc4: 2x2 pooling dropped (feature map 1x1 is smaller than 2x2)",
        "enc5: 2x2 pooling dropped (feature map 1x1 is smaller than 2x2)",
        "dec2: 2x upsampling dropped (no pooling left to undo at 8x8)",
        "dec1: 2x upsampling dropped (no pooling left to undo at 8x8)",
    )
    assert not space.is_valid(cand, input_shape=(1, 8, 8))
    assert space.is_valid(cand, input_shape=(1, 32, 32))


def test_upsample_restores_odd_sizes_exactly():
    space = eds(include=("architecture",))
    cand = space.canonical({"depth": 6, "filters_1": 16, "filters_2": 16, "filters_3": 16,
                            "filters_8": 16, "filters_9": 16, "filters_10": 16})
    child = to_child(space, cand, input_shape=(3, 37, 50))
    assert [l.out_hw for l in child.layers] == [(18, 25), (9, 12), (4, 6), (9, 12), (18, 25), (37, 50), (37, 50)]


# ------------------------------------------------------------------------------------------
# Children and the repair rule (RLS / VLS)
# ------------------------------------------------------------------------------------------

def _rls_all_pool(**extra) -> Candidate:
    space = rls()
    values = space.default_candidate().to_dict()
    for i in range(1, 7):
        values[f"pool_{i}"] = True
        values[f"filters_{i}"] = (24, 36, 48, 64, 24, 36)[i - 1]
    values.update(extra)
    return space.canonical(values)


def test_rls_repair_drops_sixth_pool_on_32x32():
    space = rls()
    cand = _rls_all_pool()
    child = to_child(space, cand, input_shape=(3, 32, 32), num_classes=10)
    assert [l.pool for l in child.layers[:6]] == [True] * 5 + [False]
    assert [l.in_hw for l in child.layers[:6]] == [(32, 32), (16, 16), (8, 8), (4, 4), (2, 2), (1, 1)]
    assert [l.out_hw for l in child.layers[:6]] == [(16, 16), (8, 8), (4, 4), (2, 2), (1, 1), (1, 1)]
    assert child.repairs == ("conv6: 2x2 pooling dropped (feature map 1x1 is smaller than 2x2)",)
    assert not child.is_valid
    assert space.repairs(cand) == child.repairs
    assert not space.is_valid(cand)
    fc1, fc2 = child.layers[6:]
    assert (fc1.kind, fc1.in_features, fc1.out_features) == ("fc", 36 * 1 * 1, cand["fc_units_1"])
    assert (fc2.kind, fc2.in_features, fc2.out_features) == ("fc", cand["fc_units_1"], 10)
    # on a 64x64 input all six poolings fit
    big = to_child(space, cand, input_shape=(3, 64, 64))
    assert big.repairs == () and all(l.pool for l in big.layers[:6])
    assert big.layers[6].in_features == 36


def test_rls_child_layout_and_channels():
    space = rls()
    cand = space.sample(random.Random(7))
    child = to_child(space, cand)
    assert isinstance(child, ChildSpec)
    assert [l.kind for l in child.layers] == ["conv"] * 6 + ["fc"] * 2
    assert child.layers[0].in_features == 3
    for i, layer in enumerate(child.layers[:6], start=1):
        assert layer.out_features == cand[f"filters_{i}"]
        assert layer.kernel == (cand[f"kh_{i}"], cand[f"kw_{i}"])
        assert layer.padding == "same" and layer.stride == 1
        assert layer.padding_hw == (cand[f"kh_{i}"] // 2, cand[f"kw_{i}"] // 2)
        if i > 1:
            assert layer.in_features == child.layers[i - 2].out_features
    assert child.layers[-1].out_features == 10
    assert child.device == cand["device"]
    assert child.circuit == {k: cand[k] for k in ("array_size", "adc_bits", "cols_per_adc")}
    assert child.candidate_key == cand.key
    assert child.layers[0].input_signed is True
    assert not any(l.input_signed for l in child.layers[1:])
    json.dumps(child.to_dict())


def test_table3_nacim_sw_architecture():
    """NACIM_sw of Table III (conv part and fc1 width) maps to the expected layers."""
    rows = [(5, 5, 64, 0, 1, 5, 3, 6), (3, 1, 48, 0, 3, 2, 1, 6), (1, 3, 48, 1, 2, 0, 3, 5),
            (5, 5, 64, 1, 2, 0, 0, 4), (1, 1, 64, 1, 1, 4, 2, 3), (3, 3, 24, 0, 0, 1, 0, 5)]
    values = {}
    for i, (fh, fw, nf, p, wi, wf, ai, af) in enumerate(rows, start=1):
        values.update({f"kh_{i}": fh, f"kw_{i}": fw, f"filters_{i}": nf, f"pool_{i}": bool(p),
                       f"w_int_{i}": wi, f"w_frac_{i}": wf, f"a_int_{i}": ai, f"a_frac_{i}": af})
    values.update({"fc_units_1": 256, "w_int_7": 2, "w_frac_7": 2, "a_int_7": 3, "a_frac_7": 6,
                   "w_int_8": 0, "w_frac_8": 2, "a_int_8": 0, "a_frac_8": 2,
                   "device": "rram_nacim", "array_size": 128, "adc_bits": 4, "cols_per_adc": 8})
    space = rls()
    child = to_child(space, values)
    # conv6 weights are Q0.1 in Table III: signed, that is {-0.5, 0} (no positive level), so the repair
    # rule widens them to Q0.2; the fc2 formats Q0.2 are valid
    assert child.repairs == (
        "conv6: weight format Q0.1 has no positive and negative non-zero level; fraction bits set to 2 (Q0.2)",)
    assert (child.layers[5].weight_int_bits, child.layers[5].weight_frac_bits) == (0, 2)
    assert [l.out_hw for l in child.layers[:6]] == [(32, 32), (32, 32), (16, 16), (8, 8), (4, 4), (4, 4)]
    assert child.layers[6].in_features == 24 * 4 * 4
    assert (child.layers[1].weight_int_bits, child.layers[1].weight_frac_bits) == (3, 2)
    assert child.layers[1].weight_bits == 5 and child.layers[1].input_bits == 7


def test_zero_bit_formats_are_repaired():
    space = rls()
    cand = space.canonical(space.default_candidate().replace(w_int_2=0, w_frac_2=0, a_int_8=0, a_frac_8=0))
    child = to_child(space, cand)
    assert (child.layers[1].weight_int_bits, child.layers[1].weight_frac_bits) == (0, 2)
    assert (child.layers[7].input_int_bits, child.layers[7].input_frac_bits) == (0, 1)
    assert child.repairs == (
        "conv2: weight format Q0.0 has no positive and negative non-zero level; fraction bits set to 2 (Q0.2)",
        "fc2: input format Q0.0 has 0 bit(s) (at least 1 needed); fraction bits set to 1 (Q0.1)",
    )
    same = to_child(space, cand.replace(w_frac_2=2, a_frac_8=1))
    assert same.repairs == () and same.key == child.key and same.candidate_key != child.candidate_key


def test_repaired_children_are_valid_for_the_layers():
    """Every repaired format is accepted by the layers' FixedPoint (I + F >= 1)."""
    from lightning_imc.layers.quantization import FixedPoint

    rng = random.Random(3)
    for name in ("rls", "vls", "eds"):
        space = get_space(name)
        for _ in range(100):
            child = space.to_child(space.sample(rng))
            for l in child.layers:
                FixedPoint(l.weight_int_bits, l.weight_frac_bits, signed=True)
                FixedPoint(l.input_int_bits, l.input_frac_bits, signed=l.input_signed)


@pytest.mark.parametrize("name", ["rls", "vls", "eds"])
def test_to_child_never_raises_on_random_candidates_and_inputs(name):
    space = get_space(name)
    rng = random.Random(11)
    for _ in range(300):
        shape = (rng.choice([1, 3]), rng.randint(1, 70), rng.randint(1, 70))
        child = space.to_child(space.sample(rng), input_shape=shape, num_classes=rng.randint(1, 20))
        for l in child.layers:
            assert l.out_hw[0] >= 1 and l.out_hw[1] >= 1
        if child.task == "segmentation":
            assert child.output_shape[1:] == shape[1:]


def test_vls_layout():
    space = vls()
    cand = space.sample(random.Random(5))
    child = to_child(space, cand)
    assert [l.kind for l in child.layers] == ["conv"] * 8 + ["fc"] * 3
    assert [l.pool for l in child.layers[:8]] == [True, True, False, True, False, True, False, True]
    assert all(l.kernel == (3, 3) for l in child.layers[:8])
    assert child.layers[7].out_hw == (1, 1)
    assert child.layers[8].in_features == cand["filters_8"]
    assert [l.out_features for l in child.layers[8:]] == [cand["fc_units_1"], cand["fc_units_2"], 10]
    assert all("non-zero level" in r or "bit(s)" in r for r in child.repairs)  # only 1-bit formats repaired


def test_layers_without_quantization_dims_take_defaults():
    space = rls(include=("architecture",))
    child = to_child(space, space.default_candidate())
    for l in child.layers:
        assert (l.weight_int_bits, l.weight_frac_bits) == DEFAULT_WEIGHT_BITS == (1, 7)
        assert (l.input_int_bits, l.input_frac_bits) == DEFAULT_INPUT_BITS == (3, 4)
    assert child.device == "rram_nacim"
    assert child.circuit == {"array_size": 64, "adc_bits": 4, "cols_per_adc": 4}
    assert rls(include=("architecture",), device="sram").to_child(space.default_candidate()).device == "sram"


def test_child_to_hardware_network():
    space = rls()
    child = to_child(space, _rls_all_pool())
    net = child.to_network()
    assert len(net.layers) == 8
    first = net.layers[0]
    assert (first.kind, first.in_h, first.in_c, first.pool) == ("conv", 32, 3, 2)
    assert net.layers[5].pool == 1
    assert net.layers[6].kind == "linear" and net.layers[6].in_c == 36


# ------------------------------------------------------------------------------------------
# Freezing: restrict and select_groups
# ------------------------------------------------------------------------------------------

def test_restrict():
    space = rls()
    fixed = {"device": "fefet", "array_size": 256, "filters_1": 48}
    small = space.restrict(fixed)
    assert len(small) == len(space) - 3
    assert "device" not in small.names and small.fixed == fixed
    assert small.size * 5 * 3 * 4 == space.size
    rng = random.Random(0)
    for _ in range(50):
        cand = small.sample(rng)
        assert cand["device"] == "fefet" and cand["filters_1"] == 48 and cand["array_size"] == 256
        assert small.decode(small.encode(cand)) == cand
        assert space.decode(space.encode(cand)) == cand  # also a candidate of the full space
    # a full-space candidate that contradicts a frozen value is rejected
    with pytest.raises(ValueError, match=r"device='sram' but the dimension is frozen at 'fefet'"):
        small.encode(space.default_candidate().replace(device="sram"))
    with pytest.raises(ValueError, match=r"frozen value device='tpu'; allowed: \['rram_nacim'"):
        space.restrict({"device": "tpu"})
    with pytest.raises(ValueError, match=r"cannot freeze unknown dimension 'colour'"):
        space.restrict({"colour": 1})
    with pytest.raises(ValueError, match=r"'device' is already frozen at 'fefet'"):
        small.restrict({"device": "sram"})
    assert small.restrict({"device": "fefet"}) == small


def test_restrict_conditional_controller_freezes_inactive_dims():
    space = eds()
    shallow = space.restrict({"depth": 4})
    # layers beyond depth 4 vanish from the encoding entirely
    assert "depth" not in shallow.names
    assert [n for n in shallow.names if n.startswith("filters_")] == ["filters_1", "filters_2", "filters_9", "filters_10"]
    assert shallow.fixed["filters_5"] is None and shallow.fixed["w_int_5"] is None
    assert shallow.size == shallow.distinct_size
    cand = shallow.sample(random.Random(2))
    assert len(to_child(shallow, cand).layers) == 5
    with pytest.raises(ValueError, match=r"already frozen at None"):
        shallow.restrict({"filters_5": 16})


def test_select_groups():
    space = rls()
    best = space.sample(random.Random(9))
    rnas = space.select_groups({"quantization"}, defaults=best)  # NACIM rNAS: search quantization only
    assert list(rnas.groups) == ["quantization"]
    assert rnas.size == (4 * 7 * 4 * 7) ** 8
    cand = rnas.sample(random.Random(1))
    for name in space.all_groups["architecture"] + ["device", "array_size", "adc_bits", "cols_per_adc"]:
        assert cand[name] == best[name]
    # without defaults, every frozen dimension takes its default value
    arch = space.select_groups(["architecture", "device"])
    assert set(arch.groups) == {"architecture", "device"}
    assert arch.fixed["w_int_1"] == 1 and arch.fixed["w_frac_1"] == 3
    assert arch.fixed["a_int_1"] == 3 and arch.fixed["a_frac_1"] == 4
    assert space.select_groups(GROUPS) is space
    with pytest.raises(ValueError, match=r"unknown group\(s\) \['arch'\]; allowed: \['architecture'"):
        space.select_groups({"arch"})
    with pytest.raises(ValueError, match="every dimension is frozen"):
        space.select_groups(set())


def test_select_groups_with_conditional_defaults():
    space = eds()
    best = space.complete(space.default_candidate().replace(depth=6))
    quant = space.select_groups({"quantization"}, defaults=best)
    # quantization dims of layers that do not exist at depth 6 are frozen inactive
    assert "w_int_5" not in quant.names and "w_int_3" in quant.names and "w_int_11" in quant.names
    assert len(quant.names) == 7 * 4
    child = to_child(quant, quant.sample(random.Random(0)))
    assert [l.name for l in child.layers] == ["enc1", "enc2", "enc3", "dec3", "dec2", "dec1", "head"]


# ------------------------------------------------------------------------------------------
# Candidates
# ------------------------------------------------------------------------------------------

def test_candidate_mapping_behaviour():
    c = Candidate({"b": 2, "a": True, "c": None})
    assert dict(c) == {"a": True, "b": 2, "c": None}
    assert c == {"a": True, "b": 2, "c": None}
    assert hash(c) == hash(Candidate({"c": None, "a": True, "b": 2}))
    assert {c: 1}[Candidate({"a": True, "b": 2, "c": None})] == 1
    assert c != Candidate({"a": 1, "b": 2, "c": None})  # True is not 1
    assert Candidate.from_dict(json.loads(json.dumps(c.to_dict()))) == c
    assert c.to_json() == '{"a":true,"b":2,"c":null}'
    assert len(c.key) == 20 and c.key == Candidate(c).key
    with pytest.raises(TypeError):
        c["a"] = False  # type: ignore[index]
    with pytest.raises(ValueError, match=r"Candidate\['x'\]"):
        Candidate({"x": [1, 2]})


def test_candidate_key_stable_across_processes():
    space = rls()
    cands = [space.sample(random.Random(s)) for s in range(3)]
    code = (
        "import json, random, sys\n"
        "from lightning_imc.space import get_space\n"
        "s = get_space('rls')\n"
        "print(json.dumps([s.sample(random.Random(i)).key for i in range(3)]))\n"
        "print(json.dumps([s.decode(c).key for c in json.loads(sys.argv[1])]))\n"
    )
    env = {"PYTHONHASHSEED": "123", "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code, json.dumps([space.encode(c) for c in cands])],
                         capture_output=True, text=True, check=True, cwd=ROOT, env=env)
    first, second = (json.loads(line) for line in out.stdout.splitlines())
    assert first == second == [c.key for c in cands]


def test_no_torch_import():
    code = "import sys, lightning_imc.space as s; s.to_child(s.get_space('eds'), s.get_space('eds').sample(0)); " \
           "s.get_space('rls').to_yaml(); print('torch' in sys.modules, 'numpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.split() == ["False", "False"]


# ------------------------------------------------------------------------------------------
# Config / YAML
# ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["rls", "vls", "eds"])
def test_yaml_files_match_python_builders(name):
    cfg = OmegaConf.load(CONF / f"{name}.yaml")
    space = SearchSpace.from_config(OmegaConf.to_container(cfg))
    assert space.to_config() == BUILDERS[name]().to_config()
    assert space == get_space(name)
    assert SearchSpace.from_config(cfg) == space  # a DictConfig is accepted as is
    assert load_space(str(CONF / f"{name}.yaml")) == space


@pytest.mark.parametrize("name,include", ALL_SPACES)
def test_config_round_trip(name, include, tmp_path):
    space = _space(name, include)
    cfg = space.to_config()
    json.dumps(cfg)
    assert SearchSpace.from_config(cfg).to_config() == cfg
    path = tmp_path / "space.yaml"
    path.write_text(space.to_yaml("header line"))
    assert load_space(str(path)) == space
    restricted = space.restrict({space.names[-1]: space.dimensions[-1].choices[-1]}) if len(space) > 1 else space
    assert SearchSpace.from_config(restricted.to_config()) == restricted


def test_target_form():
    cfg = OmegaConf.create({"_target_": "lightning_imc.space.get_space", "name": "rls",
                            "include": ["architecture", "device"]})
    space = SearchSpace.from_config(OmegaConf.to_container(cfg))
    assert space == rls(include=("architecture", "device"))
    from hydra.utils import instantiate

    assert instantiate(cfg) == space
    with pytest.raises(ValueError, match=r"_target_='os.system'; allowed"):
        SearchSpace.from_config({"_target_": "os.system", "name": "rls"})


def test_custom_example_yaml():
    space = load_space(str(CONF / "custom_example.yaml"))
    assert space.name == "tiny_mnist"
    assert space.fixed == {"adc_bits": 4}
    assert space.names == ["width_1", "kernel", "width_2", "extra_conv", "width_3", "w_frac", "device"]
    assert space.size == 3 * 2 * 3 * 2 * 2 * 3 * 2
    assert space.distinct_size == 3 * 2 * 3 * (1 + 2) * 3 * 2
    cand = space.default_candidate()
    assert cand["width_1"] == 16 and cand["width_3"] is None and cand["adc_bits"] == 4
    child = to_child(space, cand)
    assert [l.name for l in child.layers] == ["conv1", "conv2", "fc1"]
    assert child.layers[-1].in_features == 16 * 7 * 7
    assert child.circuit == {"array_size": 128, "adc_bits": 4, "cols_per_adc": 8}
    deep = to_child(space, cand.replace(extra_conv=True, width_3=64, kernel=5))
    assert [l.name for l in deep.layers] == ["conv1", "conv2", "conv3", "fc1"]
    assert deep.layers[0].kernel == (5, 5) and deep.layers[2].kernel == (3, 3)
    assert deep.layers[-1].in_features == 64 * 3 * 3
    assert all(l.weight_frac_bits == cand["w_frac"] and l.weight_int_bits == 1 for l in deep.layers)
    for _ in range(50):
        c = space.sample(random.Random(_))
        assert space.decode(space.encode(c)) == c
    assert SearchSpace.from_config(space.to_config()) == space


# ------------------------------------------------------------------------------------------
# Validation messages
# ------------------------------------------------------------------------------------------

def _dims(**extra):
    return [{"name": "a", "group": "architecture", "choices": [1, 2]}, extra] if extra else \
        [{"name": "a", "group": "architecture", "choices": [1, 2]}]


@pytest.mark.parametrize("cfg,match", [
    ({"name": "s", "dimensions": [{"name": "a", "group": "arch", "choices": [1]}]},
     r"Dimension 'a': group='arch'; allowed: \['architecture', 'quantization', 'device', 'circuit'\]"),
    ({"name": "s", "dimensions": [{"name": "a", "group": "architecture", "choices": []}]},
     r"Dimension 'a': choices is empty"),
    ({"name": "s", "dimensions": [{"name": "a", "group": "architecture", "choices": [1, 1]}]},
     r"Dimension 'a': duplicate choice 1"),
    ({"name": "s", "dimensions": _dims() * 2}, r"duplicate dimension name 'a'"),
    ({"name": "s", "dimensions": _dims(name="b", group="architecture", choices=[1], condition={"dimension": "z", "values": [1]})},
     r"dimension 'b' has a condition on an unknown dimension 'z'; allowed: earlier dimensions \['a'\]"),
    ({"name": "s", "dimensions": [{"name": "b", "group": "architecture", "choices": [1], "condition": ["a", [1]]}] + _dims()},
     r"condition on a later dimension 'a'"),
    ({"name": "s", "dimensions": _dims(name="b", group="architecture", choices=[1], condition=["a", [3]])},
     r"condition of 'b' on 'a' lists value 3; allowed: \[1, 2\]"),
    ({"name": "s", "dimensions": [{"name": "a", "group": "architecture", "choices": [1], "colour": 1}]},
     r"dimension 'a': unknown key\(s\) \['colour'\]"),
    ({"name": "s", "dimensions": [{"name": "a", "group": "architecture"}]}, r"dimension 'a': missing key 'choices'"),
    ({"name": "s", "dimensions": [{"name": "a", "group": "architecture", "choices": [1, 2], "default": 3}]},
     r"default=3 is not a choice; allowed: \[1, 2\]"),
    ({"name": "s", "dimensions": [{"name": "a", "group": "architecture", "choices": [[1]]}]}, r"Dimension 'a'"),
    ({"name": "s", "dimensions": []}, r"dimensions is empty"),
    ({"dimensions": _dims()}, r"missing key 'name'"),
    ({"name": "s", "dimensions": _dims(), "extra": 1}, r"unknown key\(s\) \['extra'\]; allowed"),
    ({"name": "s", "dimensions": _dims(), "fixed": {"a": 5}}, r"frozen value a=5; allowed: \[1, 2\]"),
    ({"name": "s", "dimensions": _dims(), "fixed": {"a": 1}}, r"every dimension is frozen"),
])
def test_config_errors(cfg, match):
    with pytest.raises(ValueError, match=match):
        SearchSpace.from_config(cfg)


def _tpl(**layer):
    base = {"kind": "conv", "out_features": "$a"}
    base.update(layer)
    return {"layers": [base, {"kind": "fc", "out_features": "$num_classes"}]}


@pytest.mark.parametrize("template,match", [
    (_tpl(out_features="$zz"), r"reference '\$zz' to unknown dimension; allowed: \['a'\]"),
    (_tpl(kind="attention"), r"kind='attention'; allowed: \['conv', 'fc'\]"),
    (_tpl(kernel=[2, 3]), r"'same' padding needs odd kernel sizes"),
    (_tpl(stride=2), r"stride=2; allowed: 1"),
    (_tpl(pool="yes"), r"pool='yes'; must be true or false"),
    (_tpl(pool="$a"), r"choice of 'a'\)=1; must be true or false"),
    (_tpl(weight_int_bits=20), r"weight_int_bits=20; must be <= 16"),
    (_tpl(colour=1), r"unknown key\(s\) \['colour'\]"),
    ({**_tpl(), "device": "tpu"}, r"device: 'tpu' is not a registered device; allowed: \["),
    ({**_tpl(), "task": "detection"}, r"task='detection'; allowed: \['classification', 'segmentation'\]"),
    ({**_tpl(), "input_shape": [3, 32]}, r"input_shape=\[3, 32\]; must be \(C, H, W\)"),
    ({"layers": []}, r"layers: must be a non-empty list"),
    ({**_tpl(), "colour": 1}, r"template: unknown key\(s\) \['colour'\]"),
    ({"layers": [{"kind": "fc", "out_features": 4, "pool": True}]}, r"an fc layer cannot pool"),
])
def test_template_errors(template, match):
    with pytest.raises(ValueError, match=match):
        SearchSpace("s", [Dimension("a", (1, 2), "architecture")], template)


def test_template_condition_mismatch():
    dims = [Dimension("depth", (1, 2), "architecture"),
            Dimension("f2", (8, 16), "architecture", ("depth", (2,)))]
    with pytest.raises(ValueError, match=r"reads 'f2', which is conditional .*give the layer the same condition"):
        SearchSpace("s", dims, {"layers": [{"kind": "conv", "out_features": "$f2"}]})
    ok = SearchSpace("s", dims, {"layers": [{"kind": "conv", "out_features": "$f2", "condition": ["depth", [2]]},
                                            {"kind": "fc", "out_features": 3}]})
    assert [l.kind for l in ok.to_child({"depth": 1}).layers] == ["fc"]
    assert ok.to_child({"depth": 1}).layers[0].in_features == 3 * 32 * 32


def test_condition_and_dimension_objects():
    assert Condition.coerce(("d", [1, 2])) == Condition("d", (1, 2))
    assert Condition("d", 3).values == (3,)
    with pytest.raises(ValueError, match="values is empty"):
        Condition("d", ())
    with pytest.raises(ValueError, match="exactly the keys 'dimension' and 'values'"):
        Condition.coerce({"dim": "d"})
    d = Dimension("x", [1, 2, 3], "circuit", default=2)
    assert d.choices == (1, 2, 3) and d.default_value == 2 and d.index(3) == 2 and d.index(4) == -1
    assert Dimension.from_config(d.to_config()) == d


def test_registry():
    assert {"rls", "vls", "eds"} <= set(space_names())
    with pytest.raises(ValueError, match=r"unknown search space 'xyz'; allowed: \[.*'eds', .*'rls', .*'vls'"):
        get_space("xyz")
    assert get_space("RLS") == rls()
    with pytest.raises(ValueError, match="already registered"):
        register_space("rls", rls)
    register_space("tiny_test", lambda **kw: load_space(str(CONF / "custom_example.yaml")), overwrite=True)
    assert get_space("tiny_test").name == "tiny_mnist"
    with pytest.raises(ValueError, match=r"include: unknown group\(s\) \['hw'\]"):
        rls(include=("architecture", "hw"))
    with pytest.raises(ValueError, match=r"depths: 5"):
        eds(depths=(4, 5))
    with pytest.raises(TypeError):
        get_space("rls", colour=1)


def test_active_mask():
    space = eds(include=("architecture",))
    codes = [0] * len(space)
    mask = space.active_mask(codes)
    assert [n for n, m in zip(space.names, mask) if m] == ["depth", "filters_1", "filters_2", "filters_9", "filters_10"]
    codes[0] = 3  # depth 10
    assert all(space.active_mask(codes))


def test_rls_table3_variant_with_two_hidden_fc_layers():
    space = rls(include=("architecture",), n_fc_hidden=2)
    assert space.size == (4 * 4 * 4 * 2) ** 6 * 4 * 4
    child = to_child(space, space.default_candidate().replace(fc_units_1=256, fc_units_2=64))
    assert [(l.name, l.out_features) for l in child.layers[6:]] == [("fc1", 256), ("fc2", 64), ("fc3", 10)]
    assert len(rls(n_fc_hidden=2).groups["quantization"]) == 9 * 4


@pytest.mark.parametrize("layers,task,match", [
    ([{"kind": "fc", "out_features": 4}, {"kind": "conv", "out_features": 4}], "segmentation",
     r"a conv layer follows an fc layer"),
    ([{"kind": "conv", "out_features": 4}], "classification", r"must end with a fc layer, not conv"),
    ([{"kind": "conv", "out_features": 4}, {"kind": "fc", "out_features": 3}], "segmentation",
     r"must end with a conv layer, not fc"),
    ([{"kind": "conv", "out_features": 4}, {"kind": "fc", "out_features": 3, "condition": ["a", [2]]}],
     "classification", r"the last layer \(layer2\) must be unconditional"),
])
def test_template_layer_order_errors(layers, task, match):
    with pytest.raises(ValueError, match=match):
        SearchSpace("s", [Dimension("a", (1, 2), "architecture")], {"task": task, "layers": layers})


def test_candidate_equality_keeps_bools_apart_from_ints():
    assert Candidate({"p": True}) != {"p": 1}
    assert Candidate({"p": True}) == {"p": True}
