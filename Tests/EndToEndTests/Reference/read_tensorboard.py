"""Reads a TensorBoard run directory as TensorBoard itself does, and checks the framing first.

Usage: read_tensorboard.py RUN_DIR. Every record of every events file must carry the masked
CRC-32C of its length and of its data (TFRecord); then TensorBoard's EventAccumulator loads the
directory and the scalars are printed as one JSON object: {tag: [[step, value], ...]}.
"""

import glob
import json
import os
import struct
import sys

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.summary.writer.record_writer import masked_crc32c


def check_framing(path):
    records = 0
    with open(path, "rb") as f:
        data = f.read()
    offset = 0
    while offset < len(data):
        header = data[offset : offset + 8]
        (length,) = struct.unpack("<Q", header)
        (length_crc,) = struct.unpack("<I", data[offset + 8 : offset + 12])
        if masked_crc32c(header) != length_crc:
            sys.exit(f"{path}: record {records}: the length's CRC is wrong")
        body = data[offset + 12 : offset + 12 + length]
        (body_crc,) = struct.unpack("<I", data[offset + 12 + length : offset + 16 + length])
        if len(body) != length or masked_crc32c(body) != body_crc:
            sys.exit(f"{path}: record {records}: the data's CRC is wrong")
        offset += 16 + length
        records += 1
    return records


def main():
    run = sys.argv[1]
    files = glob.glob(os.path.join(run, "events.out.tfevents.*"))
    if len(files) != 1:
        sys.exit(f"{run}: expected one events file, found {files}")
    check_framing(files[0])
    accumulator = EventAccumulator(run, size_guidance={"scalars": 0})
    accumulator.Reload()
    scalars = {
        tag: [[event.step, event.value] for event in accumulator.Scalars(tag)]
        for tag in accumulator.Tags()["scalars"]
    }
    print(json.dumps(scalars))


if __name__ == "__main__":
    main()
