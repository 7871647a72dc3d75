"""Checks an ONNX model with onnx's own checker and runs it with onnxruntime on a CSV's rows.

Usage: onnx_run.py MODEL.onnx DATA.csv. The CSV is read as Descent reads it (label column first,
then the features; a first row whose first field is not a number is a header). The model must
pass onnx.checker.check_model with full_check (type and shape inference included); then one JSON
object is printed: the graph's inputs and outputs as onnxruntime sees them, the opset, producer and
metadata, and "probabilities", one list per CSV row, each value the float32 the runtime computed.
"""

import csv
import json
import sys

import numpy as np
import onnx
import onnxruntime


def features(path):
    rows = []
    with open(path, newline="") as f:
        for index, record in enumerate(csv.reader(f)):
            if not record:
                continue
            if index == 0:
                try:
                    float(record[0])
                except ValueError:
                    continue
            rows.append([float(field) for field in record[1:]])
    return np.array(rows, dtype=np.float32)


def main(model_path, csv_path):
    model = onnx.load(model_path)
    onnx.checker.check_model(model, full_check=True)
    session = onnxruntime.InferenceSession(model_path, providers=["CPUExecutionProvider"])
    inputs = session.get_inputs()
    if len(inputs) != 1:
        sys.exit(f"{model_path}: {len(inputs)} inputs, expected one")
    (probabilities,) = session.run(None, {inputs[0].name: features(csv_path)})
    print(
        json.dumps(
            {
                "inputs": [{"name": i.name, "shape": i.shape, "type": i.type} for i in inputs],
                "outputs": [{"name": o.name, "shape": o.shape, "type": o.type} for o in session.get_outputs()],
                "ir_version": model.ir_version,
                "opset": {o.domain: o.version for o in model.opset_import},
                "producer": [model.producer_name, model.producer_version],
                "metadata": {p.key: p.value for p in model.metadata_props},
                "ops": [node.op_type for node in model.graph.node],
                "probabilities": [[float(value) for value in row] for row in probabilities],
            }
        )
    )


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: onnx_run.py MODEL.onnx DATA.csv")
    main(sys.argv[1], sys.argv[2])
