#!/usr/bin/env python3
"""A stand-in for the Hugging Face hub, for mlcc's hub tests (standard library only).

Serves folders as model repos in the hub's real URL layout, on 127.0.0.1 only:
  GET  /api/models/{org}/{repo}/revision/{rev}  -> {"id", "sha", "siblings": [{"rfilename"}]}
  HEAD/GET /{org}/{repo}/resolve/{rev}/{path}   -> the file, with X-Repo-Commit and ETag (the git
       blob sha1); files of --lfs-threshold bytes or more answer 302 to a second server (the
       "CDN", another port) with X-Linked-Etag (sha256) and X-Linked-Size, as the hub does.
Range requests are honoured. Unknown repos answer 401 + X-Error-Code: RepoNotFound (as the hub
does without a token), unknown revisions 404 RevisionNotFound, unknown files 404
EntryNotFound. The CDN refuses requests that carry an Authorization header (a signed URL must
not get the user's token).

Knobs: a JSON file (--knobs), read on every request, so a test changes behaviour by rewriting it:
  {"token": "secret"}              require "Authorization: Bearer secret" (401 without, 403 wrong)
  {"token": "secret", "gated": true} the same for files only: the API answers anyone, as for a
                                   gated repo on the real hub
  {"renamed": {"tm/old": "tm/llama3"}} the old name answers 307 with a relative Location
  {"corrupt": ["model.safetensors"]} serve those files with one byte flipped (headers unchanged)
  {"wrong_size": ["model.safetensors"]} announce one byte more in X-Linked-Size than is served
  {"script": {"model.safetensors": ["cut:1000", "503"]}}
        the next GETs of a file's body, one action each: "cut:N" sends N bytes of the body and
        closes the connection; "NNN" answers that HTTP status. Then normal service.
Every request is logged to --log as "SERVER METHOD PATH range=R auth=yes|no".
The ports are written to --port-file as "HUBPORT CDNPORT" once both listen.
"""
import argparse
import hashlib
import http.server
import json
import os
import socketserver
import sys
import threading
import time
import urllib.parse

ARGS = None
LOCK = threading.Lock()
STATE = {"knobs_text": 0, "script": {}, "knobs": {}}
PORTS = {}


class Repo:
    def __init__(self, repo_id, folder):
        self.id = repo_id
        self.folder = folder
        self.files = {}
        for root, _, names in os.walk(folder):
            for name in names:
                full = os.path.join(root, name)
                self.files[os.path.relpath(full, folder)] = full
        listing = "".join(f"{n}:{os.path.getsize(p)}\n" for n, p in sorted(self.files.items()))
        self.commit = hashlib.sha1((repo_id + "\n" + listing).encode()).hexdigest()
        self._meta = {}

    def meta(self, name):
        if name not in self._meta:
            data = open(self.files[name], "rb").read()
            git = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
            self._meta[name] = (len(data), git, hashlib.sha256(data).hexdigest())
        return self._meta[name]


REPOS = {}


def knobs():
    """The knob file's settings; the per-file scripts restart whenever the file changes."""
    try:
        st = os.stat(ARGS.knobs)
        text = open(ARGS.knobs).read()
        version = (st.st_ino, st.st_mtime_ns, text)  # a rewrite restarts the scripts
    except (FileNotFoundError, TypeError):
        text, version = "", None
    with LOCK:
        if version != STATE["knobs_text"]:
            STATE["knobs_text"] = version
            k = json.loads(text) if text.strip() else {}
            STATE["script"] = {f: list(a) for f, a in k.get("script", {}).items()}
            STATE["knobs"] = k
        return STATE["knobs"]


def next_action(name):
    with LOCK:
        actions = STATE["script"].get(name)
        return actions.pop(0) if actions else None


def log(server, handler):
    auth = "yes" if handler.headers.get("Authorization") else "no"
    rng = handler.headers.get("Range", "-")
    with LOCK, open(ARGS.log, "a") as f:
        f.write(f"{server} {handler.command} {handler.path} range={rng} auth={auth}\n")


class Base(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_label = "?"

    def log_message(self, *a):
        pass

    def reply(self, status, body=b"", headers=None, head=False):
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def error(self, status, code, message, head=False):
        body = json.dumps({"error": message}).encode()
        self.reply(status, body, {"X-Error-Code": code, "X-Error-Message": message,
                                  "Content-Type": "application/json"}, head)

    def send_file(self, repo, name, head, extra):
        """The file's bytes, honouring Range, the corrupt knob and the file's script."""
        size, _, _ = repo.meta(name)
        data = open(repo.files[name], "rb").read()
        if name in knobs().get("corrupt", []) and data:
            data = bytes([data[0] ^ 0xFF]) + data[1:]
        action = None if head else next_action(name)
        if action and not action.startswith("cut:"):
            return self.reply(int(action), b"unavailable", {}, head)
        start, status = 0, 200
        rng = self.headers.get("Range")
        headers = dict(extra)
        if rng and rng.startswith("bytes="):
            first, _, last = rng[6:].partition("-")
            start = int(first)
            end = int(last) + 1 if last else size
            if start >= size:
                return self.reply(416, b"", {"Content-Range": f"bytes */{size}"}, head)
            data = data[start:end]
            status = 206
            headers["Content-Range"] = f"bytes {start}-{start + len(data) - 1}/{size}"
        headers["Accept-Ranges"] = "bytes"
        if action:  # cut:N - promise everything, send N bytes, hang up
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: int(action[4:])])
            self.wfile.flush()
            self.close_connection = True
            return
        self.reply(status, data, headers, head)


class Hub(Base):
    server_label = "hub"

    def do_HEAD(self):
        self.handle_any(head=True)

    def do_GET(self):
        self.handle_any(head=False)

    def handle_any(self, head):
        log("hub", self)
        path = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)
        token = knobs().get("token")
        if token and knobs().get("gated") and path.startswith("/api/"):
            token = None
        if token:
            auth = self.headers.get("Authorization")
            if auth is None:
                return self.error(401, "GatedRepo", "Access to this model is restricted.", head)
            if auth != f"Bearer {token}":
                return self.error(403, "GatedRepo", "Your token has no access to this model.", head)
        parts = path.strip("/").split("/")
        for old, new in knobs().get("renamed", {}).items():
            o, n = old.split("/"), new.split("/")
            at = 2 if parts[:2] == ["api", "models"] else 0
            if parts[at:at + 2] == o:
                target = "/" + "/".join(parts[:at] + n + parts[at + 2:])
                return self.reply(307, b"", {"Location": target}, head)
        if len(parts) >= 6 and parts[0] == "api" and parts[1] == "models" and parts[4] == "revision":
            return self.api(parts[2] + "/" + parts[3], "/".join(parts[5:]), head)
        if len(parts) >= 5 and parts[2] == "resolve":
            return self.resolve(parts[0] + "/" + parts[1], parts[3], "/".join(parts[4:]), head)
        self.error(404, "NotFound", "no such page", head)

    def find(self, repo_id, rev, head):
        repo = REPOS.get(repo_id)
        if repo is None:
            self.error(401, "RepoNotFound", "Repository not found", head)
            return None
        if rev not in ("main", repo.commit):
            self.error(404, "RevisionNotFound", f"Invalid rev id: {rev}", head)
            return None
        return repo

    def api(self, repo_id, rev, head):
        repo = self.find(repo_id, rev, head)
        if repo:
            body = json.dumps({"id": repo.id, "sha": repo.commit,
                               "siblings": [{"rfilename": n} for n in sorted(repo.files)]})
            self.reply(200, body.encode(), {"Content-Type": "application/json"}, head)

    def resolve(self, repo_id, rev, name, head):
        repo = self.find(repo_id, rev, head)
        if not repo:
            return
        if name not in repo.files:
            return self.error(404, "EntryNotFound", f"{name} does not exist", head)
        size, git, sha = repo.meta(name)
        common = {"X-Repo-Commit": repo.commit}
        if size >= ARGS.lfs_threshold:
            cdn = f"http://127.0.0.1:{PORTS['cdn']}/{repo_id}/{name}?signature=abc"
            announced = size + (1 if name in knobs().get("wrong_size", []) else 0)
            return self.reply(302, b"", dict(common, **{
                "Location": cdn, "ETag": f'"{sha}"', "X-Linked-Etag": f'"{sha}"',
                "X-Linked-Size": str(announced)}), head)
        self.send_file(repo, name, head, dict(common, **{"ETag": f'"{git}"'}))


class Cdn(Base):
    server_label = "cdn"

    def do_HEAD(self):
        self.handle_any(head=True)

    def do_GET(self):
        self.handle_any(head=False)

    def handle_any(self, head):
        log("cdn", self)
        if self.headers.get("Authorization"):
            return self.reply(400, b"signed URL and Authorization header both given", {}, head)
        path = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path).strip("/").split("/")
        repo = REPOS.get("/".join(path[:2]))
        name = "/".join(path[2:])
        if repo is None or name not in repo.files:
            return self.reply(404, b"no such blob", {}, head)
        self.send_file(repo, name, head, {"ETag": f'"{repo.meta(name)[2]}"'})


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    global ARGS
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repo", action="append", default=[], help="ORG/NAME=FOLDER")
    p.add_argument("--port-file", required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--knobs")
    p.add_argument("--lfs-threshold", type=int, default=1 << 20)
    p.add_argument("--lifetime", type=float, default=600, help="exit after this many seconds")
    ARGS = p.parse_args()
    for spec in ARGS.repo:
        repo_id, _, folder = spec.partition("=")
        REPOS[repo_id] = Repo(repo_id, folder)
    open(ARGS.log, "a").close()
    hub = Server(("127.0.0.1", 0), Hub)
    cdn = Server(("127.0.0.1", 0), Cdn)
    PORTS["hub"], PORTS["cdn"] = hub.server_address[1], cdn.server_address[1]
    for s in (hub, cdn):
        threading.Thread(target=s.serve_forever, daemon=True).start()
    tmp = ARGS.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(f"{PORTS['hub']} {PORTS['cdn']}\n")
    os.rename(tmp, ARGS.port_file)
    time.sleep(ARGS.lifetime)  # a bound in case the test that started us dies without a trap
    sys.exit(0)


if __name__ == "__main__":
    main()
