"""compare.py REFERENCE PEER INPUTS...: outputs of weft's processor and of the peer, decoded by
`weft consume -o jsonl`, joined on metadata.causation_id (= the input's event id): every decoded
value, key, partition and schema id equal; weft-event-id / -type / -schema-version headers equal;
traceparent: same trace id as the input's traceparent header, else as the envelope's trace_id,
else both random; span ids new. INPUTS are `weft produce -o jsonl` logs; a log named
*tp-valid* was sent with the valid traceparent below, *tp-invalid* with the invalid one."""
import json, re, sys

VALID_TP = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

def load(path):
    out = {}
    for line in open(path):
        r = json.loads(line)
        c = r["value"]["metadata"]["causation_id"]
        assert c not in out, f"two outputs for input {c} in {path}"
        out[c] = r
    return out

inputs = {}
for f in sys.argv[3:]:
    for line in open(f):
        r = json.loads(line)
        r["tp"] = VALID_TP if "tp-valid" in f else None
        inputs[r["value"]["metadata"]["event_id"]] = r
ref, peer = load(sys.argv[1]), load(sys.argv[2])
assert ref.keys() == peer.keys(), f"{len(ref.keys() - peer.keys())} only in {sys.argv[1]}, {len(peer.keys() - ref.keys())} only in {sys.argv[2]}"
tp = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-01$")
kinds = {"trace of the input header": 0, "trace of the envelope": 0, "new trace": 0}
for c, w in ref.items():
    k = peer[c]
    assert w["value"] == k["value"], (c, w["value"], k["value"])
    assert w["key"] == k["key"] == w["value"]["payload"]["aggregate_id"], c
    assert w["partition"] == k["partition"], c
    assert w["schema_id"] == k["schema_id"], c
    wh, kh = w["headers"], k["headers"]
    assert set(wh) == set(kh) == {"traceparent", "weft-event-id", "weft-event-type", "weft-schema-version"}, (wh, kh)
    for h in ("weft-event-id", "weft-event-type", "weft-schema-version"):
        assert wh[h] == kh[h], (c, h)
    assert wh["weft-event-id"] == w["value"]["metadata"]["event_id"]
    mw, mk = tp.match(wh["traceparent"]), tp.match(kh["traceparent"])
    assert mw and mk, (wh["traceparent"], kh["traceparent"])
    i = inputs[c]
    if i["tp"]:
        expect, kind = tp.match(i["tp"]).group(1), "trace of the input header"
    elif re.fullmatch(r"[0-9a-f]{32}", i["value"]["metadata"]["trace_id"] or ""):
        expect, kind = i["value"]["metadata"]["trace_id"], "trace of the envelope"
    else:
        expect, kind = None, "new trace"
    if expect:
        assert mw.group(1) == mk.group(1) == expect, (c, wh["traceparent"], kh["traceparent"])
    assert mw.group(2) != mk.group(2)
    kinds[kind] += 1
print(f"{sys.argv[2]}: {len(peer)} outputs equal to {sys.argv[1]} field by field; traceparent: {kinds}")
