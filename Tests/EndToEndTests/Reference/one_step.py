#!/usr/bin/env python3
"""One full-batch SGD step of Descent's network, in float64 with numpy: a second, independent
oracle for the end-to-end tests (OneStepTests).

Usage: one_step.py DATA.csv INIT.safetensors LEARNING_RATE
Prints {"W1": [[...], ...], "b1": [...], ...}: the weights after W -= lr*dW, b -= lr*db.

The safetensors file is read with struct and json only: an 8-byte little-endian header length,
the JSON header, then the F32 little-endian data its data_offsets index.
"""
import json
import struct
import sys

import numpy as np


def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    (header_length,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + header_length])
    data = raw[8 + header_length :]
    metadata = header.pop("__metadata__", {})
    tensors = {}
    for name, entry in header.items():
        assert entry["dtype"] == "F32", entry
        begin, end = entry["data_offsets"]
        values = np.frombuffer(data[begin:end], dtype="<f4").astype(np.float64)
        tensors[name] = values.reshape(entry["shape"])
    return tensors, metadata


def read_csv(path):
    labels, rows = [], []
    with open(path) as f:
        for number, line in enumerate(f):
            fields = [field.strip() for field in line.strip().split(",")]
            if fields == [""]:
                continue
            if number == 0:
                try:
                    float(fields[0])
                except ValueError:
                    continue  # a header
            labels.append(int(fields[0]))
            rows.append([float(x) for x in fields[1:]])
    return np.array(labels), np.array(rows, dtype=np.float64).T  # X is (n0, m)


def hidden(name, z):
    if name == "relu":
        return np.maximum(z, 0)
    if name == "leaky-relu":
        return np.where(z > 0, z, 0.01 * z)
    if name == "tanh":
        return np.tanh(z)
    if name == "sigmoid":
        return 1 / (1 + np.exp(-z))
    raise ValueError(name)


def hidden_derivative(name, z):
    if name == "relu":
        return (z > 0).astype(np.float64)
    if name == "leaky-relu":
        return np.where(z > 0, 1.0, 0.01)
    if name == "tanh":
        return 1 - np.tanh(z) ** 2
    if name == "sigmoid":
        s = 1 / (1 + np.exp(-z))
        return s * (1 - s)
    raise ValueError(name)


def main():
    csv_path, init_path, lr = sys.argv[1], sys.argv[2], float(sys.argv[3])
    tensors, metadata = read_safetensors(init_path)
    layers = [int(n) for n in metadata["layers"].split(",")]
    activation = metadata.get("activation", "relu")
    depth = len(layers) - 1
    W = [None] + [tensors[f"W{l}"] for l in range(1, depth + 1)]
    b = [None] + [tensors[f"b{l}"].reshape(-1, 1) for l in range(1, depth + 1)]

    labels, X = read_csv(csv_path)
    m = X.shape[1]
    Z, A = [None], [X]
    for l in range(1, depth + 1):
        z = W[l] @ A[l - 1] + b[l]
        if l < depth:
            a = hidden(activation, z)
        elif layers[-1] == 1:
            a = 1 / (1 + np.exp(-z))
        else:
            e = np.exp(z - z.max(axis=0, keepdims=True))
            a = e / e.sum(axis=0, keepdims=True)
        Z.append(z)
        A.append(a)

    if layers[-1] == 1:
        Y = labels.reshape(1, -1).astype(np.float64)
    else:
        Y = np.zeros((layers[-1], m))
        Y[labels, np.arange(m)] = 1
    dZ = A[depth] - Y
    out = {}
    for l in range(depth, 0, -1):
        dW = dZ @ A[l - 1].T / m
        db = dZ.sum(axis=1, keepdims=True) / m
        if l > 1:
            dZ = (W[l].T @ dZ) * hidden_derivative(activation, Z[l - 1])
        out[f"W{l}"] = (W[l] - lr * dW).tolist()
        out[f"b{l}"] = (b[l] - lr * db).ravel().tolist()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
