#!/usr/bin/env python3
"""An independent checker of sealtrail event proofs, written from docs/FORMAT.md §12
(with §2, §3, §4, §5.1 and §10.1) alone: no sealtrail code. Python 3 and the
`cryptography` package only.

    check_proof.py PROOF KEY [KEY ...]

Each KEY is an SPKI PEM public key file (a keyring file of several PEM blocks too),
or 64 hex digits of a raw Ed25519 public key. Prints `VALID ...` and exits 0, or
`INVALID: <kind>: <detail>` and exits 1.
"""

import base64
import binascii
import hashlib
import json
import re
import struct
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


class Invalid(Exception):
    def __init__(self, kind, detail):
        super().__init__(f"{kind}: {detail}")


def load_keys(args):
    keys = []
    for a in args:
        if re.fullmatch(r"[0-9a-f]{64}", a):
            keys.append(bytes.fromhex(a))
            continue
        text = open(a, encoding="ascii").read()
        for block in re.findall(
            r"-----BEGIN PUBLIC KEY-----.*?-----END PUBLIC KEY-----", text, re.S
        ):
            k = serialization.load_pem_public_key(block.encode())
            keys.append(
                k.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
            )
    return {hashlib.sha256(k).digest()[:8]: k for k in keys}  # §5: key id


def parse_seal(b):
    """§2: the seal payload."""
    if len(b) < 10 or b[:6] != b"STSEAL":
        raise Invalid("bad_seal", "magic")
    version, kind, slen = struct.unpack_from("<HBB", b, 6)
    if version != 1 or kind > 3:
        raise Invalid("bad_seal", f"version {version} kind {kind}")
    n = 32 if kind == 3 else 0
    if len(b) != 250 + slen + n:
        raise Invalid("bad_seal", "length")
    stream = b[10 : 10 + slen].decode("ascii")
    if not re.fullmatch(r"[A-Za-z0-9._-]{1,64}", stream) or stream in (".", ".."):
        raise Invalid("bad_seal", "stream id")
    o = 10 + slen
    seq, = struct.unpack_from("<Q", b, o)
    prev_hash = b[o + 8 : o + 40]
    period_start, period_end = struct.unpack_from("<qq", b, o + 40)
    event_count, = struct.unpack_from("<Q", b, o + 80)
    merkle_root = b[o + 136 : o + 168]
    key_id = b[o + 168 : o + 176]
    next_key = b[o + 176 : o + 208] if kind == 3 else None
    signed = b[: o + 176 + n]  # §3
    signature = b[o + 176 + n :]
    return dict(kind=kind, stream=stream, seq=seq, prev_hash=prev_hash,
                period_start=period_start, period_end=period_end,
                event_count=event_count, merkle_root=merkle_root, key_id=key_id,
                next_key=next_key, signed=signed, signature=signature,
                hash=hashlib.sha256(b).digest())


def verify_signed(seal, keys, key_id=None):
    key_id = seal["key_id"] if key_id is None else key_id
    if seal["key_id"] != key_id:
        raise Invalid("chain_broken", "not signed by the key valid for it")
    if key_id not in keys:
        raise Invalid("wrong_key", f"key id {key_id.hex()} not in the keyring")
    try:
        Ed25519PublicKey.from_public_bytes(keys[key_id]).verify(seal["signature"], seal["signed"])
    except InvalidSignature:
        raise Invalid("bad_signature", key_id.hex())


def node(x, y):
    return hashlib.sha256(b"\x01" + x + y).digest()


def root_from_path(leaf, index, size, path):
    """§12.2 step 4 (RFC 9162 §2.1.3.2)."""
    if index >= size:
        raise Invalid("bad_path", "index not below size")
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            raise Invalid("bad_path", "too long")
        if fn & 1 or fn == sn:
            r = node(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise Invalid("bad_path", "too short")
    return r


def canonical(d):
    """§12.1: the one encoding of a proof."""
    b64 = lambda x: base64.b64encode(x).decode()
    return (
        '{"sealtrail_proof":1,"event_id":"%s","leaf_index":%d,"tree_size":%d,'
        '"line":"%s","path":[%s],"seal":"%s","chain":[%s]}\n'
        % (d["event_id"], d["leaf_index"], d["tree_size"], b64(d["line"]),
           ",".join('"%s"' % p.hex() for p in d["path"]), b64(d["seal"]),
           ",".join('"%s"' % b64(c) for c in d["chain"]))
    ).encode()


def check(data, keys):
    try:
        doc = json.loads(data)
        if list(doc) != ["sealtrail_proof", "event_id", "leaf_index", "tree_size",
                         "line", "path", "seal", "chain"] or doc["sealtrail_proof"] != 1:
            raise Invalid("malformed", "members")
        d = dict(event_id=doc["event_id"], leaf_index=doc["leaf_index"],
                 tree_size=doc["tree_size"],
                 line=base64.b64decode(doc["line"], validate=True),
                 path=[bytes.fromhex(p) for p in doc["path"]],
                 seal=base64.b64decode(doc["seal"], validate=True),
                 chain=[base64.b64decode(c, validate=True) for c in doc["chain"]])
        if not re.fullmatch(r"[A-Za-z0-9._:-]{3,129}", d["event_id"]) or any(
            len(p) != 32 for p in d["path"]
        ) or len(d["path"]) > 64 or type(d["leaf_index"]) is not int or type(d["tree_size"]) is not int \
                or d["leaf_index"] < 0 or d["tree_size"] < 0:
            raise Invalid("malformed", "values")
    except (ValueError, TypeError, KeyError, AttributeError, binascii.Error) as e:
        raise Invalid("malformed", str(e))
    if canonical(d) != data:
        raise Invalid("not_canonical", "not the one encoding")
    seal = parse_seal(d["seal"])  # step 2
    verify_signed(seal, keys)
    if d["tree_size"] != seal["event_count"]:  # step 3
        raise Invalid("tree_size_mismatch", "")
    leaf = hashlib.sha256(b"\x00" + d["line"]).digest()  # step 4
    if root_from_path(leaf, d["leaf_index"], d["tree_size"], d["path"]) != seal["merkle_root"]:
        raise Invalid("merkle_mismatch", "")
    stream, _, rest = d["event_id"].partition(":")  # step 5
    line = d["line"]
    if stream != seal["stream"] or b"\n" in line:
        raise Invalid("event_id_mismatch", "stream")
    try:
        obj = json.loads(line)
    except ValueError:
        raise Invalid("event_id_mismatch", "the line is not JSON")
    version = next((v for v in (b"2", b"3") if line.startswith(b'{"v":' + v + b",")), None)
    if version is not None:
        if not line.startswith(b'{"v":' + version + b',"pos":' + rest.encode() + b",") \
                or type(obj.get("pos")) is not int or str(obj["pos"]) != rest:
            raise Invalid("event_id_mismatch", "pos")
    elif line.startswith(b'{"v":'):
        raise Invalid("event_id_mismatch", "compact line of another version")
    elif not isinstance(obj, dict) or (obj.get("event") or {}).get("id") != d["event_id"]:
        raise Invalid("event_id_mismatch", "event.id")
    prev = seal
    for i, c in enumerate(d["chain"], 1):  # step 6
        try:
            s = parse_seal(c)
        except Invalid as e:
            raise Invalid("chain_broken", f"entry {i}: {e}")
        valid = hashlib.sha256(prev["next_key"]).digest()[:8] if prev["kind"] == 3 else prev["key_id"]
        if (s["stream"] != prev["stream"] or s["seq"] != prev["seq"] + 1
                or s["prev_hash"] != prev["hash"] or s["period_start"] != prev["period_end"]):
            raise Invalid("chain_broken", f"entry {i} does not follow")
        try:
            verify_signed(s, keys, valid)
        except Invalid as e:
            raise Invalid("chain_broken", f"entry {i}: {e}")
        prev = s
    return seal, prev


def main():
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    data = open(sys.argv[1], "rb").read()
    keys = load_keys(sys.argv[2:])
    try:
        seal, head = check(data, keys)
    except Invalid as e:
        print(f"INVALID: {e}")
        return 1
    print(f"VALID stream={seal['stream']} seq={seal['seq']} head_seq={head['seq']} "
          f"head_seal_hash={head['hash'].hex()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
