#!/usr/bin/env python3
"""fake_openai_server.py - a stand-in OpenAI-compatible server for testing `mlcc bench serve`.

POST /v1/chat/completions or /v1/completions with "stream": true answers max_tokens content
chunks as server-sent events (DELAY seconds apart), then a usage chunk and [DONE]. Knobs:
  --fail-every N   every Nth request (1-based) gets HTTP 500
  --no-done        streams end without [DONE]
  --log FILE       one JSON line per request: the body received and the requests in flight
Writes the port it listens on to --port-file."""
import argparse, json, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ap = argparse.ArgumentParser()
ap.add_argument("--port-file", required=True)
ap.add_argument("--fail-every", type=int, default=0)
ap.add_argument("--no-done", action="store_true")
ap.add_argument("--delay", type=float, default=0.002)
ap.add_argument("--log")
args = ap.parse_args()
lock = threading.Lock()
state = {"count": 0, "inflight": 0}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with lock:
            state["count"] += 1
            n = state["count"]
            state["inflight"] += 1
            inflight = state["inflight"]
            if args.log:
                with open(args.log, "a") as f:
                    f.write(json.dumps({"path": self.path, "body": body, "inflight": inflight}) + "\n")
        try:
            if args.fail_every and n % args.fail_every == 0:
                msg = b'{"error": {"message": "injected failure"}}'
                self.send_response(500)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(msg)))
                self.end_headers()
                self.wfile.write(msg)
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Connection", "close")
            self.end_headers()
            chat = self.path.endswith("/chat/completions")
            for i in range(body.get("max_tokens", 16)):
                time.sleep(args.delay)
                choice = {"index": 0, "delta": {"content": f"w{i} "}} if chat else {"index": 0, "text": f"w{i} "}
                self.wfile.write(b"data: " + json.dumps({"choices": [choice]}).encode() + b"\n\n")
                self.wfile.flush()
            usage = {"prompt_tokens": len(json.dumps(body).split()), "completion_tokens": body.get("max_tokens", 16)}
            self.wfile.write(b"data: " + json.dumps({"choices": [], "usage": usage}).encode() + b"\n\n")
            if not args.no_done:
                self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()
            self.close_connection = True
        finally:
            with lock:
                state["inflight"] -= 1


srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(args.port_file, "w") as f:
    f.write(str(srv.server_address[1]))
srv.serve_forever()
