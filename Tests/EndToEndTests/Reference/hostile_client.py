#!/usr/bin/env python3
"""A hostile peer for the end-to-end security tests (SecurityTests): it speaks just enough ZMTP
3.0 over a plain TCP socket to reach the coordinator's ROUTER as a DEALER, with no ZeroMQ
library, and sends it frames that a correct coordinator must drop.

Usage:
  hostile_client.py garbage HOST PORT   send garbage, damaged and misleading frames during a run
  hostile_client.py null-probe HOST PORT   greet a CURVE coordinator with the NULL mechanism

Prints one JSON object on stdout: what it sent and what came back. Exits non-zero only when it
could not do its job (no connection, a reply it cannot parse); a coordinator that ignores it is
the expected outcome, not an error.

Descent's frames (docs/PROTOCOL.md, Sources/Wire/FrameHeader.swift): a 28-byte little-endian
header -- magic 0x44534354 u32, version u16, kind u8, flags u8, step u64, part u16, parts u16,
payload length u32, CRC-32C of the payload u32 -- then the payload.
"""
import json
import os
import platform
import random
import socket
import struct
import sys
import time

MAGIC = 0x44534354
VERSION = 9
# HELLO's arithmetic profile (docs/PROTOCOL.md): the features a BLAS kernel needs, as Descent
# reads them from /proc/cpuinfo, and the elementary functions of Descent's own build.
ELEMENTARY = "descent-elementary-1"
RELEVANT_FEATURES = {"sse3", "ssse3", "sse4_2", "avx", "avx2", "fma", "avx512f", "avx512cd", "avx512bw",
                     "avx512dq", "avx512vl", "avx512_bf16", "asimd", "sve"}
HELLO, WELCOME, REFUSE, SHARD, SHARD_READY, STEP, PARTIAL, HEARTBEAT, BYE, PARAMS = range(1, 11)


# MARK: CRC-32C (Castagnoli, reflected 0x82F63B78, init and final XOR 0xFFFFFFFF), table-driven

def _crc_table():
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return table


CRC_TABLE = _crc_table()


def crc32c(data):
    crc = 0xFFFFFFFF
    for byte in data:
        crc = CRC_TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


assert crc32c(b"123456789") == 0xE3069283, "CRC-32C check value"


# MARK: Descent frames

def frame(kind, payload, step=0, version=VERSION, checksum=None, part=0, parts=1):
    crc = crc32c(payload) if checksum is None else checksum
    header = struct.pack("<IHBBQHHII", MAGIC, version, kind, 0, step, part, parts, len(payload), crc)
    return header + payload


def string(text):
    data = text.encode()
    return struct.pack("<I", len(data)) + data


def cpu_features():
    try:
        with open("/proc/cpuinfo") as info:
            line = next((l for l in info if l.startswith("flags") or l.startswith("Features")), "")
    except OSError:
        line = ""
    words = line.split(":", 1)[-1].split() if line else []
    return sorted({"sse3" if w == "pni" else w for w in words} & RELEVANT_FEATURES)


def hello(version, name, kernel=""):
    profile = (string("") + string(kernel) + string("") + struct.pack("<I", 1) + string(platform.machine())
               + string(",".join(cpu_features())) + string(ELEMENTARY))
    # Then the relay endpoint (protocol 7): empty, this client relays nothing; and the reducer
    # endpoint and public key (protocol 9): empty, this client reduces nothing.
    return frame(HELLO, struct.pack("<H", version) + string(name) + profile + string("") + string("") + string(""),
                 version=version)


def read_string(payload, offset):
    (length,) = struct.unpack_from("<I", payload, offset)
    return payload[offset + 4:offset + 4 + length].decode(), offset + 4 + length


def register(connection, name):
    """HELLO, and HELLO again on the run's kernel when the coordinator asks for it (REFUSE with a
    kernel), as a worker that switches kernel would; returns the answer that ends it."""
    connection.send([hello(VERSION, name)])
    answer = wait_for(connection, {WELCOME, REFUSE}, 5)
    if answer is not None and answer[0] == REFUSE:
        _, offset = read_string(answer[2], 0)
        kernel, _ = read_string(answer[2], offset)
        if kernel:
            connection.send([hello(VERSION, name, kernel)])
            answer = wait_for(connection, {WELCOME, REFUSE}, 5)
    return answer


def partial(step, shard, examples, gradients, loss_sum=1.0, segment=0, span=1):
    payload = struct.pack("<QIIIIIdd", step, shard, span, segment, examples, 0, loss_sum, 0.001)
    payload += bytes(3) + bytes([0])  # padding, encoding float32
    payload += struct.pack("<I", len(gradients)) + struct.pack("<%df" % len(gradients), *gradients)
    return frame(PARTIAL, payload, step=step)


def parse(data):
    """(kind, step, payload) of one frame, after checking its header and CRC."""
    if len(data) < 28:
        raise ValueError("a %d-byte frame" % len(data))
    magic, version, kind, flags, step, part, parts, length, crc = struct.unpack("<IHBBQHHII", data[:28])
    payload = data[28:]
    if magic != MAGIC or version != VERSION or len(payload) != length or crc32c(payload) != crc:
        raise ValueError("a damaged frame from the coordinator")
    return kind, step, payload


def read_string(payload, offset):
    (length,) = struct.unpack_from("<I", payload, offset)
    return payload[offset + 4 : offset + 4 + length].decode(), offset + 4 + length


# MARK: ZMTP 3.0 (rfc.zeromq.org/spec/23), NULL mechanism, as a DEALER

class Zmtp:
    def __init__(self, host, port, mechanism=b"NULL", timeout=5.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        # The greeting in two stages, as libzmq does: the signature, then (once the peer's has
        # arrived) version, mechanism, as-server and filler. A peer that will not talk to us may
        # close half-way through; keep what did arrive.
        self.sock.sendall(b"\xff" + b"\x00" * 8 + b"\x7f")
        peer = self._up_to(10)
        if len(peer) < 10 or peer[0] != 0xFF or peer[9] != 0x7F:
            raise ValueError("not a ZMTP peer: %r" % peer)
        self.sock.sendall(b"\x03\x00" + mechanism.ljust(20, b"\x00") + b"\x00" + b"\x00" * 31)
        peer += self._up_to(54)
        self.peer_mechanism = peer[12:32].rstrip(b"\x00").decode() if len(peer) >= 32 else None
        self.closed_in_greeting = len(peer) < 64

    def handshake(self):
        """Exchanges READY commands; returns the peer's Socket-Type."""
        if self.closed_in_greeting:
            raise ConnectionError("the peer closed the connection during the greeting")
        body = b"\x05READY" + self._property(b"Socket-Type", b"DEALER") + self._property(b"Identity", b"")
        self._send_frame(body, command=True)
        command, more, data = self._read_frame()
        if not command or not data.startswith(b"\x05READY"):
            raise ValueError("expected READY, got %r" % data[:16])
        properties, offset = {}, 6
        while offset < len(data):
            name_length = data[offset]
            name = data[offset + 1 : offset + 1 + name_length].decode()
            offset += 1 + name_length
            (value_length,) = struct.unpack_from(">I", data, offset)
            properties[name] = data[offset + 4 : offset + 4 + value_length].decode()
            offset += 4 + value_length
        return properties.get("Socket-Type")

    def send(self, frames):
        for index, data in enumerate(frames):
            self._send_frame(data, more=index < len(frames) - 1)

    def send_raw(self, data):
        self.sock.sendall(data)

    def receive(self, timeout):
        """The next message's frames, or None when nothing came in `timeout` seconds."""
        self.sock.settimeout(timeout)
        try:
            frames = []
            while True:
                command, more, data = self._read_frame()
                if command:
                    continue  # PING and the like
                frames.append(data)
                if not more:
                    return frames
        except socket.timeout:
            return None

    def close(self):
        self.sock.close()

    @staticmethod
    def _property(name, value):
        return bytes([len(name)]) + name + struct.pack(">I", len(value)) + value

    def _send_frame(self, data, more=False, command=False):
        flags = (0x01 if more else 0) | (0x04 if command else 0)
        if len(data) > 255:
            self.sock.sendall(bytes([flags | 0x02]) + struct.pack(">Q", len(data)) + data)
        else:
            self.sock.sendall(bytes([flags, len(data)]) + data)

    def _read_frame(self):
        (flags,) = self._exactly(1)
        if flags & 0x02:
            (length,) = struct.unpack(">Q", self._exactly(8))
        else:
            (length,) = self._exactly(1)
        return bool(flags & 0x04), bool(flags & 0x01), self._exactly(length)

    def _up_to(self, count):
        """`count` bytes, or fewer if the peer closes first."""
        data = b""
        while len(data) < count:
            try:
                chunk = self.sock.recv(count - len(data))
            except ConnectionResetError:
                break
            if not chunk:
                break
            data += chunk
        return data

    def _exactly(self, count):
        data = b""
        while len(data) < count:
            chunk = self.sock.recv(count - len(data))
            if not chunk:
                raise ConnectionError("the peer closed the connection")
            data += chunk
        return data


def wait_for(connection, kinds, timeout):
    """The first message of one of `kinds` within `timeout` seconds, as (kind, step, payload)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        frames = connection.receive(max(0.05, deadline - time.monotonic()))
        if frames is None:
            return None
        kind, step, payload = parse(frames[0])
        if kind in kinds:
            return kind, step, payload
    return None


# MARK: The attacks

def garbage(host, port):
    rng = random.Random(20260101)
    report = {"sent": []}

    # Not even ZMTP: random bytes on a fresh TCP connection, which ZeroMQ must drop.
    raw = socket.create_connection((host, port), timeout=5)
    raw.sendall(bytes(rng.randrange(256) for _ in range(300)))
    raw.close()
    report["sent"].append("raw TCP noise")

    connection = Zmtp(host, port)
    report["socket_type"] = connection.handshake()

    gradients = [rng.uniform(-1e30, 1e30) for _ in range(307)]
    valid_partial = partial(1, 0, 64, gradients)
    attacks = [
        ("random bytes", [bytes(rng.randrange(256) for _ in range(200))]),
        ("truncated PARTIAL header", [struct.pack("<IHBB", MAGIC, VERSION, PARTIAL, 0) + b"\x01\x00"]),
        ("PARTIAL with a bad CRC", [valid_partial[:24] + struct.pack("<I", crc32c(valid_partial[28:]) ^ 0x5A5A5A5A) + valid_partial[28:]]),
        ("PARTIAL with a payload shorter than its header says", [valid_partial[:-100]]),
        # The flag a frame written into shared memory carries, without a checksum: never on a socket.
        ("PARTIAL flagged as shared memory, unchecksummed", [valid_partial[:7] + b"\x01" + valid_partial[8:24] + struct.pack("<I", 0) + valid_partial[28:]]),
        ("PARTIAL from a stranger", [valid_partial]),
        ("PARTIAL for step 1 again (replay)", [valid_partial]),
        ("PARTIAL for a far-future step", [partial(10**9, 1, 64, gradients)]),
        ("two frames numbered 0 of 1", [valid_partial, valid_partial]),
        ("unknown kind 42", [frame(42, b"")]),
        ("SHARD_READY from a stranger", [frame(SHARD_READY, struct.pack("<II", 0, 500))]),
    ]
    for name, frames in attacks:
        connection.send(frames)
        report["sent"].append(name)

    # A HELLO of another protocol version: the coordinator answers REFUSE, proving that the frames
    # above reached it (they travel the same connection, in order).
    connection.send([hello(99, "hostile-v99")])
    report["sent"].append("HELLO version 99")
    answer = wait_for(connection, {REFUSE, WELCOME}, 5)
    report["v99_answer"] = None if answer is None else {REFUSE: "REFUSE", WELCOME: "WELCOME"}[answer[0]]
    if answer is not None and answer[0] == REFUSE:
        report["v99_reason"] = read_string(answer[2], 0)[0]
    connection.close()

    # A second connection registers properly, then lies: partials for shards it does not hold,
    # for the current step (learned from the coordinator's heartbeats), replayed, and poisoned.
    liar = Zmtp(host, port)
    liar.handshake()
    welcome = register(liar, "hostile-liar")
    report["liar_welcomed"] = welcome is not None and welcome[0] == WELCOME
    if report["liar_welcomed"]:
        payload = welcome[2]
        rank, beat, threads = struct.unpack_from("<III", payload, 0)
        (count,) = struct.unpack_from("<I", payload, 12)
        layers = struct.unpack_from("<%dI" % count, payload, 16)
        parameters = sum(layers[l] * layers[l - 1] + layers[l] for l in range(1, len(layers)))
        report["liar_rank"], report["liar_layers"] = rank, list(layers)
        beat_message = wait_for(liar, {HEARTBEAT, STEP}, 5)
        step = beat_message[1] if beat_message else 1
        report["liar_saw_step"] = step
        nan = [float("nan")] * parameters
        huge = [3e38] * parameters
        lies = [
            ("liar: NaN PARTIAL for shard 0, current step", [partial(step, 0, 32, nan)]),
            ("liar: huge PARTIAL for shard 1, next step", [partial(step + 1, 1, 32, huge)]),
            ("liar: huge PARTIAL for shard 1, next step (replay)", [partial(step + 1, 1, 32, huge)]),
            ("liar: PARTIAL for shard 7 of 2", [partial(step, 7, 32, huge)]),
            ("liar: PARTIAL summing no shard", [partial(step, 0, 32, huge, span=0)]),
            ("liar: PARTIAL summing 2^32 - 1 shards", [partial(step, 0, 32, huge, span=0xFFFFFFFF)]),
            ("liar: PARTIAL summing both shards", [partial(step, 0, 64, huge, span=2)]),
            ("liar: PARTIAL with the wrong gradient count", [partial(step, 0, 32, [1.0] * 3)]),
            ("liar: SHARD_READY for shard 0", [frame(SHARD_READY, struct.pack("<II", 0, 500))]),
        ]
        for name, frames in lies:
            liar.send(frames)
            report["sent"].append(name)
        liar.send([frame(BYE, string("hostile client done"))])
        report["sent"].append("liar: BYE")
    liar.close()

    # Last, a frame past the coordinator's size limit, on a connection of its own: ZeroMQ drops
    # the connection rather than buffer it.
    big = Zmtp(host, port)
    big.handshake()
    big.send([frame(PARTIAL, bytes(256 * 1024))])
    report["sent"].append("oversized frame")
    big.close()
    return report


def null_probe(host, port):
    """Greets with the NULL mechanism; a CURVE coordinator must not let it any further."""
    connection = Zmtp(host, port)
    report = {"server_mechanism": connection.peer_mechanism, "ready": False, "messages": 0,
              "closed_in_greeting": connection.closed_in_greeting}
    try:
        if connection.closed_in_greeting:
            raise ConnectionError("the peer closed the connection during the greeting")
        connection.handshake()
        report["ready"] = True
        connection.send([hello(VERSION, "null-probe")])
        while connection.receive(2.0) is not None:
            report["messages"] += 1
    except (ConnectionError, ValueError, socket.timeout, OSError) as error:
        report["ended"] = str(error)
    connection.close()
    return report


def main():
    if len(sys.argv) != 4 or sys.argv[1] not in ("garbage", "null-probe"):
        sys.exit(__doc__)
    mode, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    report = garbage(host, port) if mode == "garbage" else null_probe(host, port)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
