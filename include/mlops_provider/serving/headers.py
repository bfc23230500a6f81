"""The model server's HTTP headers, shared by the server and its clients (the local target, the demo)."""

PIN_HEADER = "x-mlops-version"  # answer: the version that scored; request (loopback only): pin a loaded version
SMOKE_HEADER = "x-mlops-smoke-test"  # from loopback: a verification request, kept out of the inference log
ROUTING_KEY_HEADER = "x-routing-key"  # the key hashed in `hash` routing mode (default: the request body)
