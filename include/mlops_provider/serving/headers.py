"""The model server's HTTP headers, shared by the server and its clients (the local target, the demo)."""

import re

PIN_HEADER = "x-mlops-version"  # answer: the version that scored; request (loopback only): pin a loaded version
SMOKE_HEADER = "x-mlops-smoke-test"  # from loopback: a verification request, kept out of the inference log
ROUTING_KEY_HEADER = "x-routing-key"  # the key hashed in `hash` routing mode (default: the request body)
REQUEST_ID_HEADER = "x-request-id"  # request: the caller's own id (optional); answer: the request's id
REQUEST_ID_PATTERN = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")  # what a caller's request id may be
