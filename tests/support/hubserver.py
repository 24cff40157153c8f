"""A loopback HTTP server that speaks the parts of the Hugging Face Hub protocol robnetzoo uses,
to the real ``huggingface_hub`` client (``HF_ENDPOINT``): no mocks.

Download: ``HEAD``/``GET /{repo}/resolve/{revision}/{path}`` with ``X-Repo-Commit`` and
``ETag`` headers, so the client fills its real cache.

Upload, as ``HfApi.create_repo`` / ``create_branch`` / ``upload_folder`` use it through the
Git LFS path (the client's path when ``HF_HUB_DISABLE_XET=1``; the Xet path needs Hugging
Face's CAS service, which no loopback server can stand in for):
``POST /api/repos/create``; ``POST /api/models/{repo}/branch/{branch}``; ``POST
/api/validate-yaml`` (the card's metadata must parse);
``POST /api/models/{repo}/preupload/{revision}`` (``.safetensors`` as LFS, the rest regular);
``POST /{repo}.git/info/lfs/objects/batch`` (basic transfer, an upload href per object);
``PUT /lfs-upload/{oid}`` (the bytes, checked against the oid); ``POST
/api/models/{repo}/commit/{revision}`` (NDJSON: header, file, lfsFile lines). A commit makes a
new revision whose files the resolve endpoint then serves. With ``token`` set, every upload
call without ``Authorization: Bearer <token>`` gets 401 as the Hub answers.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

COMMIT = "0123456789abcdef0123456789abcdef01234567"


class HubServer:
    def __init__(self, repos: dict[str, Path] | None = None, token: str | None = None) -> None:
        # repo id -> revision (branch name or commit) -> path -> bytes
        self.store: dict[str, dict[str, dict[str, bytes]]] = {}
        self.commits: dict[str, dict[str, str]] = {}  # repo -> branch -> commit sha
        for repo, folder in (repos or {}).items():
            files = {p.relative_to(folder).as_posix(): p.read_bytes() for p in Path(folder).rglob("*") if p.is_file()}
            self.store[repo] = {"main": files}
            self.commits[repo] = {"main": COMMIT}
        self.token = token
        self.requests: list[str] = []
        self.private: dict[str, bool] = {}
        self.lfs: dict[str, bytes] = {}  # oid -> bytes uploaded, waiting for a commit
        self.hostile_headers: dict[str, str] = {}  # a mirror or proxy that lies: sent on every file answer
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # keep test output clean
                pass

            # -- helpers ----------------------------------------------------------------

            def _body(self) -> bytes:
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

            def _send(
                self,
                status: int,
                data: bytes = b"",
                headers: dict[str, str] | None = None,
                content_type: str = "application/json",
            ) -> None:
                self.send_response(status)
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            def _json(self, status: int, value: object, headers: dict[str, str] | None = None) -> None:
                self._send(status, json.dumps(value).encode(), headers)

            def _error(self, status: int, code: str, message: str) -> None:
                self._json(status, {"error": message}, {"X-Error-Code": code, "X-Error-Message": message})

            def _authorised(self) -> bool:
                if server.token is None:
                    return True
                if self.headers.get("Authorization") == f"Bearer {server.token}":
                    return True
                self._body()
                self._error(401, "Unauthorized", "Invalid credentials in Authorization header")
                return False

            # -- download ---------------------------------------------------------------

            def _resolve(self) -> None:
                parts = self.path.split("?")[0].strip("/").split("/")
                # /{org}/{name}/resolve/{revision}/{filename}
                if len(parts) < 5 or parts[2] != "resolve":
                    return self._error(404, "RepoNotFound", "Repository not found")
                repo, revision, name = "/".join(parts[:2]), parts[3], "/".join(parts[4:])
                if repo not in server.store:
                    return self._error(404, "RepoNotFound", "Repository not found")
                branches = server.commits[repo]
                commit = branches.get(revision, revision)
                files = server.store[repo].get(revision) or server.store[repo].get(commit)
                if files is None:
                    return self._error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
                if name not in files:
                    headers = {"X-Error-Code": "EntryNotFound", "X-Repo-Commit": commit, **server.hostile_headers}
                    return self._send(404, b"", headers)
                data = files[name]
                self._send(
                    200,
                    data,
                    {
                        "X-Repo-Commit": commit,
                        "ETag": f'"{hashlib.sha256(data).hexdigest()}"',
                        **server.hostile_headers,
                    },
                    "application/octet-stream",
                )

            def do_HEAD(self) -> None:
                server.requests.append(f"HEAD {self.path}")
                self._resolve()

            def do_GET(self) -> None:
                server.requests.append(f"GET {self.path}")
                self._resolve()

            # -- upload -----------------------------------------------------------------

            def do_POST(self) -> None:
                server.requests.append(f"POST {self.path}")
                path = self.path.split("?")[0]
                if not self._authorised():
                    return None
                body = self._body()
                parts = path.strip("/").split("/")
                if path == "/api/repos/create":
                    request = json.loads(body)
                    repo = f"{request.get('organization') or 'user'}/{request['name']}"
                    with server.lock:
                        if repo in server.store:
                            return self._error(409, "RepoExists", "You already created this model repo")
                        server.store[repo] = {"main": {}}
                        server.commits[repo] = {"main": COMMIT}
                        server.store[repo][COMMIT] = {}
                        # huggingface_hub >= 1 sends "visibility"; older clients "private"
                        server.private[repo] = request.get("visibility") == "private" or bool(request.get("private"))
                    return self._json(200, {"url": f"{server.url}/{repo}", "name": repo, "id": repo})
                if path == "/api/validate-yaml":  # README.md metadata, checked before a commit
                    return self._validate_yaml(json.loads(body)["content"])
                if path.endswith(".git/info/lfs/objects/batch"):
                    request = json.loads(body)
                    objects = [
                        {
                            "oid": o["oid"],
                            "size": o["size"],
                            "authenticated": True,
                            "actions": {"upload": {"href": f"{server.url}/lfs-upload/{o['oid']}", "header": {}}},
                        }
                        for o in request["objects"]
                    ]
                    return self._send(
                        200,
                        json.dumps({"transfer": "basic", "objects": objects}).encode(),
                        content_type="application/vnd.git-lfs+json",
                    )
                if len(parts) >= 5 and parts[:2] == ["api", "models"]:
                    repo, action, revision = "/".join(parts[2:4]), parts[4], "/".join(parts[5:])
                    if repo not in server.store:
                        return self._error(404, "RepoNotFound", "Repository not found")
                    if action == "preupload":
                        files = json.loads(body)["files"]
                        return self._json(
                            200,
                            {
                                "files": [
                                    {
                                        "path": f["path"],
                                        "uploadMode": "lfs" if f["path"].endswith(".safetensors") else "regular",
                                        "shouldIgnore": False,
                                        "oid": None,
                                    }
                                    for f in files
                                ]
                            },
                        )
                    if action == "branch":
                        with server.lock:
                            branches = server.commits[repo]
                            if revision not in branches:
                                branches[revision] = branches["main"]
                                server.store[repo][revision] = dict(server.store[repo]["main"])
                        return self._json(200, {})
                    if action == "commit":
                        return self._commit(repo, revision, body)
                return self._error(404, "NotFound", f"no such endpoint {path}")

            def _validate_yaml(self, content: str) -> None:
                import yaml

                problems = []
                if not content.startswith("---\n") or "\n---" not in content[4:]:
                    problems.append("README.md has no YAML metadata block")
                else:
                    try:
                        metadata = yaml.safe_load(content[4 : content.index("\n---", 4)])
                        if not isinstance(metadata, dict):
                            problems.append("the metadata block is not a mapping")
                    except yaml.YAMLError as exc:
                        problems.append(f"invalid YAML: {exc}")
                if problems:
                    return self._json(400, {"errors": [{"message": m} for m in problems], "warnings": []})
                return self._json(200, {"errors": [], "warnings": []})

            def _commit(self, repo: str, revision: str, body: bytes) -> None:
                lines = [json.loads(line) for line in body.decode().splitlines() if line.strip()]
                with server.lock:
                    branches = server.commits[repo]
                    if revision not in branches:
                        return self._error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
                    files = dict(server.store[repo][revision])
                    for line in lines:
                        key, value = line["key"], line["value"]
                        if key == "file":
                            files[value["path"]] = base64.b64decode(value["content"])
                        elif key == "lfsFile":
                            if value["oid"] not in server.lfs:
                                return self._error(400, "BadRequest", f"LFS object {value['oid']} was never uploaded")
                            files[value["path"]] = server.lfs[value["oid"]]
                        elif key == "deletedFile":
                            files.pop(value["path"], None)
                    commit = hashlib.sha1(
                        json.dumps(sorted((k, hashlib.sha256(v).hexdigest()) for k, v in files.items())).encode()
                        + revision.encode()
                    ).hexdigest()
                    server.store[repo][revision] = files
                    server.store[repo][commit] = files
                    branches[revision] = commit
                self._json(
                    200,
                    {"commitUrl": f"{server.url}/{repo}/commit/{commit}", "commitOid": commit, "pullRequestUrl": None},
                )

            def do_PUT(self) -> None:
                server.requests.append(f"PUT {self.path}")
                data = self._body()
                oid = self.path.strip("/").split("/")[-1]
                if hashlib.sha256(data).hexdigest() != oid:
                    return self._error(400, "BadRequest", "content does not match its oid")
                with server.lock:
                    server.lfs[oid] = data
                return self._send(200, b"")

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def repos(self) -> dict[str, dict[str, bytes]]:
        """Each repo's files on main."""
        return {repo: revisions["main"] for repo, revisions in self.store.items()}

    def __enter__(self) -> "HubServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def point_client_at(server: HubServer, monkeypatch) -> None:
    """Make the in-process ``huggingface_hub`` client talk to ``server`` (it reads its endpoint
    at import time, so the environment variable alone would come too late)."""
    monkeypatch.setattr("huggingface_hub.constants.ENDPOINT", server.url)
    monkeypatch.setattr(
        "huggingface_hub.constants.HUGGINGFACE_CO_URL_TEMPLATE",
        server.url + "/{repo_id}/resolve/{revision}/{filename}",
    )


def load_offline(cache: Path, repo: str) -> subprocess.CompletedProcess:
    """A fresh process, the Hub unreachable and ``HF_HUB_OFFLINE=1``, loads ``repo`` from
    ``cache`` and prints its logits on two seeded random images as a Python list."""
    code = (
        "import torch, robnetzoo\n"
        f"m = robnetzoo.from_pretrained({repo!r}, cache_dir={str(cache)!r})\n"
        "torch.manual_seed(0); x = torch.rand(2, 3, 32, 32)\n"
        "with torch.no_grad(): print(repr(m(x).flatten().tolist()))\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_ENDPOINT": "http://127.0.0.1:9"}
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
