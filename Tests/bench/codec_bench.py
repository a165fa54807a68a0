#!/usr/bin/env python3
"""KServe 0.21's Python codec on the payloads written by `kserve-codec-bench` (the Swift side).

Each case decodes a v2 request and re-encodes it as the response an echo model would give, with the same calls the
KServe server makes:

  binary-fp32  InferRequest.from_bytes -> InferResponse(use_binary_outputs) -> to_rest()  (bytes + header length)
  json-fp32    pydantic InferenceRequest -> InferRequest.from_inference_request -> InferResponse.to_rest()
               -> pydantic InferenceResponse -> JSON text
  binary-bytes as binary-fp32, with a BYTES tensor

For the JSON case the server parses the body with FastAPI (json.loads + pydantic validation) and serializes the
response model; here pydantic-core's own JSON parser and serializer are used instead (model_validate_json /
model_dump_json), which is faster than the server's path, so the Python numbers are, if anything, flattering.

Usage: codec_bench.py PAYLOAD_DIR [--min-seconds S] [--min-iterations N]
Prints one JSON object per case: {"case", "bytes", "iterations", "seconds_per_iteration", "mb_per_s"}.
"""

import argparse
import json
import os
import sys
import time

from kserve.protocol.infer_type import InferOutput, InferRequest, InferResponse
from kserve.protocol.rest.v2_datamodels import InferenceRequest, InferenceResponse


def echo_response(request: InferRequest) -> InferResponse:
    outputs = [
        InferOutput(name=i.name, shape=list(i.shape), datatype=i.datatype, data=i.as_numpy())
        for i in request.inputs
    ]
    return InferResponse(
        response_id=request.id or "bench",
        model_name=request.model_name,
        infer_outputs=outputs,
        use_binary_outputs=request.use_binary_outputs,
    )


def binary_case(body: bytes, json_length: int) -> int:
    request = InferRequest.from_bytes(body, json_length, "bench")
    encoded, header_length = echo_response(request).to_rest()
    assert header_length is not None
    return len(encoded)


def json_case(body: bytes, _json_length: int) -> int:
    model = InferenceRequest.model_validate_json(body)
    request = InferRequest.from_inference_request(model, "bench")
    encoded, header_length = echo_response(request).to_rest()
    assert header_length is None
    return len(InferenceResponse.model_validate(encoded).model_dump_json())


CASES = [
    ("binary-fp32", "binary-fp32.bin", binary_case),
    ("json-fp32", "json-fp32.json", json_case),
    ("binary-bytes", "binary-bytes.bin", binary_case),
]


def measure(fn, body, json_length, min_seconds, min_iterations):
    fn(body, json_length)  # warm-up
    iterations = 0
    start = time.perf_counter()
    while True:
        fn(body, json_length)
        iterations += 1
        elapsed = time.perf_counter() - start
        if iterations >= min_iterations and elapsed >= min_seconds:
            return iterations, elapsed / iterations


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("payload_dir")
    parser.add_argument("--min-seconds", type=float, default=2.0)
    parser.add_argument("--min-iterations", type=int, default=3)
    args = parser.parse_args()
    with open(os.path.join(args.payload_dir, "lengths.json")) as f:
        lengths = json.load(f)
    for name, file_name, fn in CASES:
        with open(os.path.join(args.payload_dir, file_name), "rb") as f:
            body = f.read()
        iterations, seconds = measure(fn, body, lengths[name], args.min_seconds, args.min_iterations)
        print(
            json.dumps(
                {
                    "case": name,
                    "bytes": len(body),
                    "iterations": iterations,
                    "seconds_per_iteration": seconds,
                    "mb_per_s": len(body) / seconds / 1e6,
                }
            ),
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
