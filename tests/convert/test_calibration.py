"""int8 TFLite calibrated on the user's data, and integer inputs and outputs, on a CNN trained on the digits.

Calibration sets each activation's int8 range from the samples it sees: real
digits give the ranges real digits need, random noise other ones. The
comparison runs both on the same model and counts, over the 1000 bundled test
digits, how often each int8 copy's top-1 class is the float model's.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tests._cli import check_json, convert_json, failure
from tests._digits import write_pngs

CALIBRATION_DIGITS = 200




def test_int8_calibrated_on_real_digits_agrees_with_the_float_model_more_than_on_random_samples(
        digits_cnn: Path, tmp_path: Path) -> None:
    from convkit.train.data import load_mnist

    mnist = load_mnist()
    digits = write_pngs(tmp_path / "calibration", mnist.x_train[:CALIBRATION_DIGITS], mnist.y_train[:CALIBRATION_DIGITS])
    noise = tmp_path / "noise.npy"
    np.save(noise, np.random.default_rng(0).random((CALIBRATION_DIGITS, 28, 28, 1), dtype=np.float32))
    real = convert_json(str(digits_cnn), "--to", "tflite", "--quantize", "int8", "--calibrate", str(digits),
                    "-o", str(tmp_path / "real.tflite"))
    assert real["kind"] == "builtin-int8"
    assert real["calibration"] == {"count": CALIBRATION_DIGITS, "source": f"{CALIBRATION_DIGITS} images from {digits} "
                                   "(28x28 grayscale, unit: x/255)"}
    random = convert_json(str(digits_cnn), "--to", "tflite", "--quantize", "int8", "--calibrate", str(noise),
                      "-o", str(tmp_path / "random.tflite"))
    assert random["calibration"]["source"] == str(noise)

    # The default inputs of a 28x28x1 model: the 1000 bundled test digits.
    report = check_json(str(digits_cnn), str(tmp_path / "real.tflite"), str(tmp_path / "random.tflite"))
    assert report["inputs"]["count"] == 1000 and "MNIST test digits" in report["inputs"]["source"]
    (real_output,), (random_output,) = (pair["outputs"] for pair in report["pairs"])
    print(f"top-1 agreement with the float model on 1000 test digits: int8 calibrated on {CALIBRATION_DIGITS} "
          f"real digits {real_output['top1_agree']}, on {CALIBRATION_DIGITS} random samples "
          f"{random_output['top1_agree']}")
    assert real_output["top1_agree"] > random_output["top1_agree"]
    assert real_output["top1_agree"] >= 990 and real_output["passed"]


def test_check_feeds_a_folder_of_png_digits(digits_cnn: Path, tmp_path: Path) -> None:
    from convkit.train.data import load_mnist

    mnist = load_mnist()
    digits = write_pngs(tmp_path / "test digits", mnist.x_test[:300], mnist.y_test[:300])
    onnx = tmp_path / "cnn.onnx"
    convert_json(str(digits_cnn), "--to", "onnx", "-o", str(onnx))
    report = check_json(str(digits_cnn), str(onnx), "--inputs", str(digits), "--limit", "250")
    assert report["passed"], report["failures"]
    assert report["inputs"]["count"] == 250
    assert report["inputs"]["source"] == f"250 images from {digits} (28x28 grayscale, unit: x/255)"
    assert report["inputs"]["tensors"] == {"image": {"shape": [250, 28, 28, 1], "dtype": "float32"}}
    # The PNGs hold the bundled digits rounded to 8 bits: what the model predicts on them is what it predicts
    # on the digits themselves.
    import keras

    model = keras.models.load_model(digits_cnn)
    from_pngs = model.predict(mnist.x_test[:250].reshape(-1, 28, 28, 1), verbose=0).argmax(1)
    assert (from_pngs == mnist.y_test[:250]).mean() > 0.8


def test_uint8_inputs_and_outputs_are_fed_quantized_and_compared_dequantized(digits_cnn: Path, tmp_path: Path) -> None:
    from convkit.formats import tflite as tflite_format
    from convkit.train.data import load_mnist

    mnist = load_mnist()
    digits = write_pngs(tmp_path / "calibration", mnist.x_train[:100], mnist.y_train[:100])
    out = tmp_path / "uint8.tflite"
    convert_json(str(digits_cnn), "--to", "tflite", "--quantize", "int8", "--calibrate", str(digits), "--io-type", "uint8",
             "-o", str(out))
    signature = tflite_format.inspect(out).to_dict()
    tensors = {row["name"]: row for row in signature["tensors"]}
    inputs = [row for name, row in tensors.items() if name.startswith("serving_default_image")]
    assert inputs and inputs[0]["dtype"] == "uint8"

    report = check_json(str(digits_cnn), str(out))
    (pair,) = report["pairs"]
    assert report["passed"], report["failures"]
    assert pair["outputs"][0]["top1_agreement"] > 0.98
    assert any(note.startswith("input image is uint8 [None, 28, 28, 1]: fed quantized (scale 0.00392")
               for note in pair["notes"]), pair["notes"]
    # The output layer's name is Keras' automatic one (dense, dense_1, ...: it counts the session's Dense layers).
    assert any(note.startswith("output dense") and " is uint8 [None, 10]: compared dequantized" in note
               for note in pair["notes"]), pair["notes"]

    # A reference whose output bias moved: the check of the same uint8 copy must fail.
    import keras

    model = keras.models.load_model(digits_cnn)
    bias = model.layers[-1].bias
    bias.assign(bias.numpy() + np.linspace(-3, 3, 10, dtype=np.float32))
    moved = tmp_path / "moved.keras"
    model.save(moved)
    failed = check_json(str(moved), str(out))
    assert not failed["passed"] and failed["exit_code"] == 1


def test_calibration_options_that_do_not_fit_are_refused_before_writing(digits_cnn: Path, tmp_path: Path) -> None:
    (tmp_path / "wide.csv").write_text("1,2,3\n")
    out = tmp_path / "out.tflite"
    cases = [
        (["--to", "onnx", "--calibrate", "x"], "--calibrate applies to --to tflite --quantize int8 only"),
        (["--to", "tflite", "--quantize", "dynamic", "--io-type", "uint8"], "--io-type applies to --to tflite"),
        (["--to", "tflite", "--quantize", "int8", "--limit", "5"], "apply to the data given with --calibrate"),
        (["--to", "tflite", "--quantize", "int8", "--io-type", "int16"], "'int16' is not one of float32, int8, uint8"),
        (["--to", "tflite", "--quantize", "int8", "--calibrate", str(tmp_path / "wide.csv")],
         f"{tmp_path / 'wide.csv'}: its 3 columns give 3 values per sample, but input 'image' takes 784 ([None, 28, 28, 1])"),
    ]
    for args, message in cases:
        assert message in failure("convert", digits_cnn, *args, "-o", out)
        assert not out.exists()
