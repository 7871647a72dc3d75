#!/usr/bin/env python3
"""A hostile peer for the end-to-end security tests (SecurityTests): it speaks just enough ZMTP
3.0 over a plain TCP socket to reach the coordinator's ROUTER as a DEALER, with no ZeroMQ
library, and sends it frames that a correct coordinator must drop.

Usage:
  hostile_client.py garbage HOST PORT   send garbage, damaged and misleading frames during a run
  hostile_client.py null-probe HOST PORT   greet a CURVE coordinator with the NULL mechanism
  hostile_client.py reducer HOST PORT   send a reducer's inbox pieces it must not take, and
                                        messages only its coordinator may send

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
VERSION = 10
# HELLO's arithmetic profile (docs/PROTOCOL.md): the features a BLAS kernel needs, as Descent
# reads them from /proc/cpuinfo, and the elementary functions of Descent's own build.
ELEMENTARY = "descent-elementary-1"
RELEVANT_FEATURES = {"sse3", "ssse3", "sse4_2", "avx", "avx2", "fma", "avx512f", "avx512cd", "avx512bw",
                     "avx512dq", "avx512vl", "avx512_bf16", "asimd", "sve"}
HELLO, WELCOME, REFUSE, SHARD, SHARD_READY, STEP, PARTIAL, HEARTBEAT, BYE, PARAMS = range(1, 11)
RELAY, PARAMS_PART, REDUCERS, JOIN, REDUCER_ASSIGN, RANGE_STATE, STATE_REQUEST, REDUCE_STEP, REDUCED, \
    REDUCER_NOTE = range(11, 21)


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


# MARK: A reducer's inbox

# The pieces of range 1 that ReducerTests' runs cut (8-64-64-3, 4,931 values, one segment, two
# ranges split at 2,464; docs/PROTOCOL.md): segment 1 of the refined list, 2,467 values, over 8
# shards of 8 examples a step. A piece of this shape and step is what a reducer adds, so these are
# the lies that would change bits if anything but a joined, allowed worker could get one in.
RANGE_PIECE_SEGMENT, RANGE_PIECE_VALUES, RANGE_SHARDS, SHARD_EXAMPLES = 1, 2467, 8, 8


def join(token):
    return frame(JOIN, struct.pack("<Q", token))


def reduce_step(step, tokens, shard_examples, rate=0.5):
    payload = struct.pack("<QfI", step, rate, sum(shard_examples))
    payload += struct.pack("<I%dQ" % len(tokens), len(tokens), *tokens)
    payload += struct.pack("<I%dI" % len(shard_examples), len(shard_examples), *shard_examples)
    return frame(REDUCE_STEP, payload, step=step)


def reducer_assign(step):
    """Range 1 of 2 over the test's network with sgd, as a coordinator would assign it."""
    layers = [8, 64, 64, 3]
    payload = struct.pack("<II", 1, 100) + struct.pack("<I%dI" % len(layers), len(layers), *layers)
    payload += string("relu") + struct.pack("<I", RANGE_SHARDS) + struct.pack("<I3I", 3, 0, 2464, 4931)
    payload += string("sgd") + struct.pack("<5f", 0.9, 0.9, 0.999, 1e-8, 0.0) + struct.pack("<QQ", 0, step)
    return frame(REDUCER_ASSIGN, payload, step=step)


def range_state(step, offset, values, part=0):
    payload = struct.pack("<QQIB", step, step, offset, part) + bytes(3)
    payload += struct.pack("<I%df" % len(values), len(values), *values)
    return frame(RANGE_STATE, payload, step=step)


def reducer_messages(step, tokens):
    """Every kind a reducer takes only from its coordinator (and a few it never takes at all),
    each well formed: what a reducer must drop because of where it came from, not how it looks."""
    return [
        ("REDUCE_STEP for step %d" % step, [reduce_step(step, tokens, [SHARD_EXAMPLES] * RANGE_SHARDS)]),
        ("REDUCE_STEP for step %d counting 3 shards" % step, [reduce_step(step, tokens, [1, 2, 3])]),
        ("REDUCER_ASSIGN", [reducer_assign(step)]),
        ("RANGE_STATE of range 1's values", [range_state(step, 2464, [1e30] * 64)]),
        ("RANGE_STATE outside range 1", [range_state(step, 0, [1.0] * 16)]),
        ("RANGE_STATE of a second moment", [range_state(step, 2464, [1.0] * 16, part=2)]),
        ("STATE_REQUEST", [frame(STATE_REQUEST, struct.pack("<Q", step), step=step)]),
        ("STATE_REQUEST for a step never committed", [frame(STATE_REQUEST, struct.pack("<Q", 10**9), step=10**9)]),
        ("BYE", [frame(BYE, string("hostile goodbye"))]),
        ("REFUSE", [frame(REFUSE, string("hostile refusal") + string(""))]),
        ("WELCOME", [frame(WELCOME, struct.pack("<III", 1, 100, 1) + bytes(64))]),
        ("HEARTBEAT", [frame(HEARTBEAT, struct.pack("<Q", step), step=step)]),
        ("HELLO", [hello(VERSION, "hostile-hello")]),
        ("REDUCERS", [frame(REDUCERS, struct.pack("<Q", 5) + struct.pack("<I3I", 3, 0, 2464, 4931)
                            + struct.pack("<I", 1) + string("tcp://127.0.0.1:1") + struct.pack("<I", 1) + string(""))]),
        ("REDUCED", [frame(REDUCED, struct.pack("<QIQI", step, 0, 0, 2464) + struct.pack("<I16f", 16, *([1.0] * 16)),
                           step=step)]),
        ("REDUCER_NOTE", [frame(REDUCER_NOTE, struct.pack("<QIIB", step, 0, 1, 0) + string("in") + struct.pack("<Q", 5),
                                step=step)]),
        ("unknown kind 42", [frame(42, b"")]),
    ]


def reducer(host, port):
    """Attacks a reducer's inbox (`worker --reduce-at`): nothing sent here may reach the reducer's
    sums or its state, and nothing may stop it. Nothing comes back on an inbox, so the report
    counts what was sent: `messages` that a handshaken connection delivered whole and the reducer
    must drop (all but the well-formed JOINs), for the test to hold against what the reducer says
    it refused. A reducer that goes away mid-attack is reported (`cut_off`, and
    `inbox_alive_after` false), not an error of this client's."""
    report = {"sent": [], "messages": 0, "joins": 0, "inbox_alive_after": False}
    try:
        attack_reducer(host, port, report)
    except OSError as error:
        report["cut_off"] = "%s after %d sends" % (error, len(report["sent"]))
    return report


def attack_reducer(host, port, report):
    rng = random.Random(20260121)

    def deliver(connection, name, frames, counted=True):
        connection.send(frames)
        report["sent"].append(name)
        if counted:
            report["messages"] += 1

    # Not ZMTP: random bytes on a fresh TCP connection, which ZeroMQ drops.
    raw = socket.create_connection((host, port), timeout=5)
    raw.sendall(bytes(rng.randrange(256) for _ in range(300)))
    raw.close()
    report["sent"].append("raw TCP noise")

    finite = [rng.uniform(-1e3, 1e3) for _ in range(RANGE_PIECE_VALUES)]
    steps = range(1, 161)

    def piece(step, shard, gradients=finite, examples=SHARD_EXAMPLES, segment=RANGE_PIECE_SEGMENT, span=1):
        return partial(step, shard, examples, gradients, segment=segment, span=span)

    # A stranger that never joins: noise, then pieces of the right shape for every step the run
    # may be at, then every coordinator's message.
    stranger = Zmtp(host, port)
    report["socket_type"] = stranger.handshake()
    deliver(stranger, "stranger: random bytes", [bytes(rng.randrange(256) for _ in range(200))])
    deliver(stranger, "stranger: random bytes in three frames", [bytes(rng.randrange(256) for _ in range(40))] * 3)
    for step in steps:
        deliver(stranger, "stranger: PARTIAL for step %d without a JOIN" % step, [piece(step, step % RANGE_SHARDS)])
    for name, frames in reducer_messages(1, [5]):
        deliver(stranger, "stranger: " + name, frames)
    stranger.close()

    # A liar that joins with a token it made up, then sends pieces of every sort: of the right
    # shape for every step, and wrong in each way a validator judges.
    liar = Zmtp(host, port)
    liar.handshake()
    token = rng.randrange(1, 2**64)
    deliver(liar, "liar: JOIN with a made-up token", [join(token)], counted=False)
    report["joins"] += 1
    for step in steps:
        deliver(liar, "liar: PARTIAL for step %d" % step, [piece(step, (step + 3) % RANGE_SHARDS)])
    nan = [float("nan")] * RANGE_PIECE_VALUES
    inf = [float("inf")] * RANGE_PIECE_VALUES
    valid = piece(5, 0)
    # PARTIAL's payload: step, shardID, shardSpan, segment, exampleCount, correctCount (offset 24),
    # lossSum, computeSeconds, padding (44), encoding (47), the value count (48), the values (52).
    body = valid[28:]
    lies = [
        ("NaN PARTIAL", [piece(5, 1, nan)]),
        ("infinite PARTIAL", [piece(5, 2, inf)]),
        ("PARTIAL for a far-future step", [piece(10**9, 0)]),
        ("PARTIAL for step 0", [piece(0, 0)]),
        ("PARTIAL whose span 0…2 is not a node of the tree", [piece(5, 0, span=3, examples=3 * SHARD_EXAMPLES)]),
        ("PARTIAL whose span 1…2 is not a node of the tree", [piece(5, 1, span=2, examples=2 * SHARD_EXAMPLES)]),
        ("PARTIAL for shard 9 of 8", [piece(5, 9)]),
        ("PARTIAL summing 2^32 - 1 shards", [piece(5, 0, span=0xFFFFFFFF)]),
        ("PARTIAL summing no shard", [piece(5, 0, span=0)]),
        ("PARTIAL of segment 7 of 2", [piece(5, 3, segment=7)]),
        ("PARTIAL of segment 2^32 - 1", [piece(5, 3, segment=0xFFFFFFFF)]),
        ("PARTIAL of the coordinator's range (segment 0)", [piece(5, 3, [1.0] * 2464, segment=0)]),
        ("PARTIAL with 3 gradient values", [piece(5, 4, [1.0] * 3)]),
        ("PARTIAL with one value too many", [piece(5, 4, finite + [1.0])]),
        ("PARTIAL whose value count says more than it carries",
         [frame(PARTIAL, body[:48] + struct.pack("<I", RANGE_PIECE_VALUES + 1000) + body[52:], step=5)]),
        ("PARTIAL counting 9 examples of 8", [piece(5, 5, examples=9)]),
        ("PARTIAL with more correct than examples",
         [frame(PARTIAL, body[:24] + struct.pack("<I", 99) + body[28:], step=5)]),
        ("PARTIAL with a negative loss sum", [partial(5, 6, SHARD_EXAMPLES, finite, loss_sum=-1.0, segment=1)]),
        ("PARTIAL in encoding 7", [frame(PARTIAL, body[:47] + b"\x07" + body[48:], step=5)]),
        ("PARTIAL with nonzero padding", [frame(PARTIAL, body[:44] + b"\x01" + body[45:], step=5)]),
        ("PARTIAL with a header step unlike its payload's", [frame(PARTIAL, body, step=6)]),
        ("PARTIAL with a bad CRC",
         [valid[:24] + struct.pack("<I", crc32c(valid[28:]) ^ 0x5A5A5A5A) + valid[28:]]),
        ("PARTIAL with a payload length field of 2^32 - 1", [valid[:20] + struct.pack("<I", 0xFFFFFFFF) + valid[24:]]),
        ("PARTIAL with a payload length field past the frame limit",
         [valid[:20] + struct.pack("<I", 4 * 1024 * 1024 + 1) + valid[24:]]),
        ("PARTIAL shorter than its header says", [valid[:-100]]),
        ("PARTIAL flagged as shared memory",
         [valid[:7] + b"\x01" + valid[8:24] + struct.pack("<I", 0) + valid[28:]]),
        ("PARTIAL of protocol version 8", [frame(PARTIAL, body, step=5, version=8)]),
        ("PARTIAL as two frames numbered 0 of 1", [valid, valid]),
        ("PARTIAL as frame 1 of 2 alone", [frame(PARTIAL, body, step=5, part=1, parts=2)]),
        ("truncated header", [valid[:10]]),
    ]
    for name, frames in lies:
        deliver(liar, "liar: " + name, frames)
    for name, frames in reducer_messages(5, [token]):
        deliver(liar, "liar: " + name, frames)
    # JOINs that do not decode, and one that changes the connection's token.
    bad_join = join(token)
    deliver(liar, "liar: JOIN with a bad CRC", [bad_join[:24] + struct.pack("<I", crc32c(bad_join[28:]) ^ 1) + bad_join[28:]])
    deliver(liar, "liar: JOIN with a short payload", [frame(JOIN, b"\x01\x02")])
    deliver(liar, "liar: JOIN with token 0", [join(0)], counted=False)
    report["joins"] += 1
    deliver(liar, "liar: PARTIAL after joining with token 0", [piece(5, 7)])
    deliver(liar, "liar: JOIN with a new made-up token", [join(rng.randrange(1, 2**64))], counted=False)
    report["joins"] += 1
    for name, frames in reducer_messages(6, [token]):
        deliver(liar, "liar: again " + name, frames)
    liar.close()

    # Frames past the inbox's size limit, each on a connection of its own: ZeroMQ drops the
    # connection rather than buffer them; nothing of them reaches the reducer.
    big = Zmtp(host, port)
    big.handshake()
    try:
        big.send([join(token)])
        big.send([frame(PARTIAL, bytes(5 * 1024 * 1024), checksum=0)])  # never read far enough to check
    except OSError:
        pass
    report["sent"].append("oversized frame (5 MiB)")
    big.close()
    huge = Zmtp(host, port)
    huge.handshake()
    try:
        huge.send_raw(b"\x02" + struct.pack(">Q", 2**62) + bytes(64))
    except OSError:
        pass
    report["sent"].append("ZMTP frame claiming 2^62 bytes")
    huge.close()

    # Last, the inbox still greets a new connection: the reducer is alive and serving.
    after = Zmtp(host, port)
    report["inbox_alive_after"] = after.handshake() == "ROUTER"
    after.close()


def main():
    modes = {"garbage": garbage, "null-probe": null_probe, "reducer": reducer}
    if len(sys.argv) != 4 or sys.argv[1] not in modes:
        sys.exit(__doc__)
    mode, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    report = modes[mode](host, port)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
