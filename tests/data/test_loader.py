from __future__ import annotations

import numpy as np
import pytest

from convkit.data.loader import load_inputs, match_specs
from convkit.data.preprocess import preprocessing
from convkit.data.samples import random_inputs
from convkit.containers.tensors import TensorSpec
from convkit.errors import ConvkitError, ReadError, UsageError
from tests.data._assert import one_line

MLP = [TensorSpec("dense_input", (None, 784), "float32")]


def test_784_input_models_get_the_bundled_mnist_test_digits_by_default(mnist_test):
    feed = load_inputs(MLP)
    x_test, y_test = mnist_test
    np.testing.assert_array_equal(feed.arrays["dense_input"], x_test)
    np.testing.assert_array_equal(feed.labels, y_test)
    assert feed.count == 1000 and "MNIST" in feed.source


def test_mnist_count_and_image_shaped_inputs(mnist_test):
    feed = load_inputs([TensorSpec("image", (None, 28, 28, 1), "float32")], mnist=10)
    assert feed.arrays["image"].shape == (10, 28, 28, 1)
    np.testing.assert_array_equal(feed.arrays["image"].reshape(10, 784), mnist_test[0][:10])


def test_mnist_refused_for_other_models():
    with pytest.raises(UsageError, match="784-value"):
        load_inputs([TensorSpec("x", (None, 3))], mnist=5)


def test_random_inputs_are_seeded_and_follow_the_specs():
    specs = [
        TensorSpec("tokens", (None, None), "int32", int_high=50),
        TensorSpec("features", (None, 3), "float32"),
        TensorSpec("flag", (None, 1), "bool"),
    ]
    a = random_inputs(specs, 20, seed=3)
    b = load_inputs(specs, random=20, seed=3)
    c = load_inputs(specs, random=20, seed=4)
    for name in ("tokens", "features", "flag"):
        np.testing.assert_array_equal(a.arrays[name], b.arrays[name])
    assert not np.array_equal(a.arrays["features"], c.arrays["features"])
    assert a.arrays["tokens"].shape == (20, 8) and a.arrays["tokens"].dtype == np.int32
    assert a.arrays["tokens"].min() >= 0 and a.arrays["tokens"].max() < 50
    assert a.arrays["flag"].dtype == bool
    assert any("open dimensions" in note for note in a.notes)


def test_models_without_784_inputs_default_to_100_random_samples():
    feed = load_inputs([TensorSpec("x", (None, 3))])
    assert feed.count == 100 and "random" in feed.source


def test_npz_inputs_are_matched_by_name_then_by_position(tmp_path):
    specs = [TensorSpec("a", (None, 2)), TensorSpec("b", (None, 3))]
    named = tmp_path / "named.npz"
    np.savez(named, b=np.ones((4, 3)), a=np.zeros((4, 2)), extra=np.ones(1))
    feed = load_inputs(specs, inputs=named)
    assert feed.arrays["a"].shape == (4, 2) and feed.arrays["a"].dtype == np.float32
    single = tmp_path / "single.npz"
    np.savez(single, pixels=np.zeros((5, 784), np.float32))
    assert load_inputs(MLP, inputs=single).arrays["dense_input"].shape == (5, 784)


def test_npz_that_does_not_fit_is_a_usage_error(tmp_path):
    wrong = tmp_path / "wrong.npz"
    np.savez(wrong, x=np.zeros((5, 10)))
    with pytest.raises(UsageError, match="cannot match the inputs"):
        load_inputs([TensorSpec("a", (None, 2)), TensorSpec("b", (None, 3))], inputs=wrong)
    with pytest.raises(UsageError, match="cannot match"):
        load_inputs(MLP, inputs=wrong)
    misshapen = tmp_path / "misshapen.npz"
    np.savez(misshapen, dense_input=np.zeros((5, 10)))
    with pytest.raises(UsageError, match=r"array 'dense_input' has shape \[5, 10\]"):
        load_inputs(MLP, inputs=misshapen)
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"not a zip")
    with pytest.raises(ReadError, match="broken.npz"):
        load_inputs(MLP, inputs=broken)


def test_one_input_source_at_a_time():
    with pytest.raises(UsageError, match="choose one input source"):
        load_inputs(MLP, mnist=5, random=5)


def test_matching_across_formats_by_name_else_position_else_error():
    keras3 = [TensorSpec("input_layer", (None, 784))]
    signature = [TensorSpec("keras_tensor", (None, 784))]
    assert match_specs(keras3, keras3, what="x").by == "name"
    by_position = match_specs(keras3, signature, what="x")
    assert by_position.by == "position" and by_position.names == ("keras_tensor",)
    assert "input_layer -> keras_tensor" in by_position.note
    with pytest.raises(UsageError, match=r"cannot match the inputs \[input_layer\]"):
        match_specs(keras3, [TensorSpec("keras_tensor", (None, 10))], what="x")
    two = [TensorSpec("a", (None, 784)), TensorSpec("b", (None, 784))]
    with pytest.raises(UsageError):
        match_specs(keras3, two, what="x")
    # a graph model lists its inputs by tensor, in its own order: matched by name, not position
    graph = [TensorSpec("b:0", (None, 784)), TensorSpec("a:0", (None, 784))]
    by_tensor = match_specs(two, graph, what="x")
    assert by_tensor.by == "name" and by_tensor.names == ("a:0", "b:0")


def test_more_mnist_digits_than_bundled_is_a_usage_error():
    with pytest.raises(UsageError, match="--mnist 5000: the MNIST data holds fewer digits"):
        load_inputs(MLP, mnist=5000)


# ---------------------------------------------------------------- .npy, CSV, NAME=SOURCE, --limit

TWO = [TensorSpec("image", (None, 8, 8, 1)), TensorSpec("features", (None, 3))]




def test_an_npy_feeds_the_only_input_or_the_one_it_names(tmp_path):
    np.save(tmp_path / "x.npy", np.arange(12, dtype=np.float64).reshape(4, 3))
    feed = load_inputs([TensorSpec("features", (None, 3))], str(tmp_path / "x.npy"))
    assert feed.arrays["features"].dtype == np.float32 and feed.count == 4
    np.save(tmp_path / "images.npy", np.zeros((4, 8, 8, 1), np.float32))
    both = load_inputs(TWO, [f"features={tmp_path / 'x.npy'}", f"image={tmp_path / 'images.npy'}"], limit=2)
    assert both.count == 2 and list(both.arrays) == ["image", "features"]
    assert "features: " in both.source and "image: " in both.source


def test_csv_columns_go_to_one_input_or_by_header_name(tmp_path):
    (tmp_path / "plain.csv").write_text("1,2,3\n4,5,6\n")
    feed = load_inputs([TensorSpec("x", (None, 3))], str(tmp_path / "plain.csv"))
    np.testing.assert_array_equal(feed.arrays["x"], [[1, 2, 3], [4, 5, 6]])
    (tmp_path / "named.csv").write_text("a;b;label\n1;0.5;7\n2;1.5;8\n3;2.5;9\n")
    per_column = [TensorSpec("a", (None, 1)), TensorSpec("b", (None,), "float64")]
    by_name = load_inputs(per_column, str(tmp_path / "named.csv"), limit=2)
    np.testing.assert_array_equal(by_name.arrays["a"], [[1], [2]])
    np.testing.assert_array_equal(by_name.arrays["b"], [0.5, 1.5])
    (tmp_path / "features.csv").write_text("age\tfare\theight\n30\t7.5\t1.8\n")
    assert load_inputs(TWO[1:], str(tmp_path / "features.csv")).arrays["features"].shape == (1, 3)
    tokens = load_inputs([TensorSpec("t", (None, 3), "int32")], str(tmp_path / "plain.csv"), limit=1)
    assert tokens.arrays["t"].dtype == np.int32


def test_images_and_a_table_feed_a_two_input_model(tmp_path):
    from tests.data.test_images import write_images

    write_images(tmp_path / "digits", 3)
    (tmp_path / "meta.csv").write_text("1,2,3\n4,5,6\n7,8,9\n")
    feed = load_inputs(TWO, [f"image={tmp_path / 'digits'}", str(tmp_path / "meta.csv")])
    assert feed.arrays["image"].shape == (3, 8, 8, 1) and feed.arrays["features"].shape == (3, 3)


def test_limit_applies_to_samples_too(mnist_test):
    assert load_inputs(MLP, limit=10).count == 10
    assert load_inputs([TensorSpec("x", (None, 3))], random=50, limit=7).count == 7


# ---------------------------------------------------------------- every loader error: one line, the file, the input


def test_names_and_sources_that_do_not_fit_the_model(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((2, 3)))
    with pytest.raises(UsageError) as error:
        load_inputs(TWO, [f"label={tmp_path / 'x.npy'}"])
    one_line(error, "label=", "no input 'label'", "image, features")
    with pytest.raises(UsageError) as error:
        load_inputs(TWO, [f"features={tmp_path / 'x.npy'}", f"features={tmp_path / 'x.npy'}"])
    one_line(error, "'features'", "two sources")
    with pytest.raises(UsageError) as error:
        load_inputs(TWO, str(tmp_path / "x.npy"))
    one_line(error, "x.npy", "image, features", "NAME=")
    with pytest.raises(UsageError) as error:
        load_inputs(TWO, [f"features={tmp_path / 'x.npy'}"])
    one_line(error, "x.npy", "no data for input(s) 'image'")
    with pytest.raises(ReadError) as error:
        load_inputs(TWO, str(tmp_path / "missing.npz"))
    one_line(error, "missing.npz", "no such file")
    # a named source wins over an .npz's array of the same name
    np.savez(tmp_path / "both.npz", image=np.zeros((2, 8, 8, 1)), features=np.ones((2, 3)))
    mixed = load_inputs(TWO, [str(tmp_path / "both.npz"), f"features={tmp_path / 'x.npy'}"])
    assert not mixed.arrays["features"].any()


def test_counts_limits_and_options_that_do_not_fit(tmp_path):
    np.save(tmp_path / "two.npy", np.zeros((2, 3)))
    np.save(tmp_path / "images.npy", np.zeros((5, 8, 8, 1)))
    with pytest.raises(UsageError) as error:
        load_inputs(TWO, [f"features={tmp_path / 'two.npy'}", f"image={tmp_path / 'images.npy'}"])
    one_line(error, "image 5", "images.npy", "features 2", "two.npy")
    with pytest.raises(UsageError) as error:
        load_inputs(MLP, limit=0)
    one_line(error, "--limit", "0")
    with pytest.raises(UsageError) as error:
        load_inputs(MLP, preprocessing=preprocessing("unit"))
    one_line(error, "--preprocess", "--inputs")
    with pytest.raises(UsageError) as error:
        load_inputs(TWO[1:], str(tmp_path / "two.npy"), preprocessing=preprocessing("unit"))
    one_line(error, "two.npy", "--preprocess", "no source here holds images")
    for flag, value in (("mnist", 0), ("random", -1)):
        with pytest.raises(UsageError) as error:
            load_inputs(MLP, **{flag: value})
        one_line(error, f"--{flag}")


def test_arrays_whose_shape_or_dtype_does_not_fit_name_the_file_and_the_input(tmp_path):
    spec = [TensorSpec("tokens", (None, 3), "int32")]
    cases = {
        "fractions.npy": (np.full((2, 3), 0.5), "not whole"),
        "large.npy": (np.full((2, 3), 2.0**40), "outside"),
        "strings.npy": (np.array([["a", "b", "c"]]), "<U1"),
        "rank.npy": (np.zeros((2, 3, 1)), "has shape [2, 3, 1]"),
        "empty.npy": (np.zeros((0, 3)), "no samples"),
    }
    for name, (array, expected) in cases.items():
        np.save(tmp_path / name, array)
        with pytest.raises(UsageError) as error:
            load_inputs(spec, str(tmp_path / name))
        one_line(error, name, "'tokens'", expected)
    np.save(tmp_path / "flags.npy", np.full((2, 3), 2))
    with pytest.raises(UsageError) as error:
        load_inputs([TensorSpec("flag", (None, 3), "bool")], str(tmp_path / "flags.npy"))
    one_line(error, "flags.npy", "'flag'", "0 or 1")


def test_npz_errors(tmp_path, monkeypatch):
    from convkit.containers import limits

    np.savez(tmp_path / "two.npz", a=np.zeros((2, 3)), b=np.zeros((2, 3)))
    with pytest.raises(UsageError) as error:
        load_inputs(TWO, [f"features={tmp_path / 'two.npz'}", f"image={tmp_path / 'two.npz'}"])
    one_line(error, "two.npz", "'features'", "a, b")
    np.savez(tmp_path / "empty.npz")
    with pytest.raises(ReadError) as error:
        load_inputs(MLP, str(tmp_path / "empty.npz"))
    one_line(error, "empty.npz", "no arrays")
    np.savez(tmp_path / "objects.npz", dense_input=np.array([{"x": 1}], dtype=object))
    with pytest.raises(ReadError) as error:
        load_inputs(MLP, str(tmp_path / "objects.npz"))
    one_line(error, "objects.npz", "member 'dense_input.npy' holds Python objects")
    np.save(tmp_path / "objects.npy", np.array([{"x": 1}], dtype=object))
    with pytest.raises(ReadError) as error:
        load_inputs(MLP, str(tmp_path / "objects.npy"))
    one_line(error, "objects.npy", "holds Python objects")
    (tmp_path / "cut.npy").write_bytes((tmp_path / "objects.npy").read_bytes()[:20])
    with pytest.raises(ReadError) as error:
        load_inputs(MLP, str(tmp_path / "cut.npy"))
    one_line(error, "cut.npy", "no readable .npy header")
    # A header declaring a shape the file does not hold is refused before anything is allocated.
    header = b"{'descr': '<f4', 'fortran_order': False, 'shape': (1000000000000, 784), }"
    header += b" " * (-(len(header) + 11) % 64) + b"\n"
    (tmp_path / "forged.npy").write_bytes(b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header + b"\0" * 16)
    with pytest.raises(ReadError) as error:
        load_inputs(MLP, str(tmp_path / "forged.npy"))
    one_line(error, "forged.npy", "declares [1000000000000, 784] float32", "holds 16 bytes")
    np.savez_compressed(tmp_path / "bomb.npz", dense_input=np.zeros((3000, 784), np.float32))
    monkeypatch.setattr(limits, "MAX_INPUT_BYTES", 1_000_000)
    with pytest.raises(ReadError) as error:
        load_inputs(MLP, str(tmp_path / "bomb.npz"))
    one_line(error, "bomb.npz", "expand")
    np.save(tmp_path / "big.npy", np.zeros((5, 784), np.float32))
    monkeypatch.setattr(limits, "MAX_INPUT_BYTES", 1000)
    for name in ("bomb.npz", "big.npy"):
        with pytest.raises(ReadError) as error:
            load_inputs(MLP, str(tmp_path / name))
        one_line(error, name, "over convkit's limit")
    (tmp_path / "link.npy").symlink_to(tmp_path / "objects.npy")
    with pytest.raises(ReadError) as error:
        load_inputs(MLP, str(tmp_path / "link.npy"))
    one_line(error, "link.npy", "symbolic link")


def test_csv_errors(tmp_path, monkeypatch):
    from convkit.containers import limits

    spec = [TensorSpec("x", (None, 3))]
    cases = {
        "ragged.csv": ("a,b,c\n1,2,3\n4,5\n", "line 3 has 2 cells, the header has 3"),
        "word.csv": ("a,b,c\n1,2,x\n", "line 2, column 'c': 'x' is not a number"),
        "noheader.csv": ("1,2,3\n1,y,3\n", "line 2, column 2"),
        "header_only.csv": ("a,b,c\n", "no rows"),
        "twice.csv": ("a,a,c\n1,2,3\n", "column 'a' twice"),
        "wide.csv": ("1,2,3,4\n", "4 columns give 4 values per sample, but input 'x' takes 3"),
    }
    for name, (text, expected) in cases.items():
        (tmp_path / name).write_text(text)
        with pytest.raises(ConvkitError) as error:
            load_inputs(spec, str(tmp_path / name))
        one_line(error, name, expected)
    (tmp_path / "latin1.csv").write_bytes("caf\xe9,1\n".encode("latin-1"))
    with pytest.raises(ReadError) as error:
        load_inputs(spec, str(tmp_path / "latin1.csv"))
    one_line(error, "latin1.csv", "UTF-8")
    (tmp_path / "columns.csv").write_text("a,c\n1,2\n")
    with pytest.raises(UsageError) as error:
        load_inputs([TensorSpec("a", (None, 1)), TensorSpec("b", (None, 1))], str(tmp_path / "columns.csv"))
    one_line(error, "columns.csv", "'b'", "columns: a, c")
    (tmp_path / "ok.csv").write_text("1,2,3\n")
    with pytest.raises(UsageError) as error:
        load_inputs([TensorSpec("x", (None, None, 3))], str(tmp_path / "ok.csv"))
    one_line(error, "ok.csv", "'x'", "cannot fill")
    monkeypatch.setattr(limits, "MAX_INPUT_BYTES", 3)
    with pytest.raises(ReadError) as error:
        load_inputs(spec, str(tmp_path / "ok.csv"))
    one_line(error, "ok.csv", "over convkit's limit")


def test_sources_that_together_exceed_the_input_limit(tmp_path, monkeypatch):
    from convkit.containers import limits

    np.save(tmp_path / "a.npy", np.zeros((120, 1), np.float32))
    np.save(tmp_path / "b.npy", np.zeros((120, 1), np.float32))
    monkeypatch.setattr(limits, "MAX_INPUT_BYTES", 1000)
    specs = [TensorSpec("a", (None, 1), "float64"), TensorSpec("b", (None, 1), "float64")]
    with pytest.raises(UsageError) as error:
        load_inputs(specs, [f"a={tmp_path / 'a.npy'}", f"b={tmp_path / 'b.npy'}"])
    one_line(error, "a.npy", "b.npy", "1920 bytes", "--limit")
