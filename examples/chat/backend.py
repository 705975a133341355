#!/usr/bin/python3
"""The chat example's backend: signs users in, gets their pgsync-serve tokens, answers
pgsync-serve's row webhook, takes new messages and serves the page. Python 3's standard library and
psycopg2 only (Debian: python3, python3-psycopg2); see README.md beside it.

Endpoints (JSON unless said otherwise):
  GET  /, /chat.js, /chat.css     the page (this directory); GET /pgsync.js: clients/js/pgsync.js
  POST /signin {"user"}           a session cookie for a user who belongs to a group (a demo: no
                                  password); answers as GET /session
  GET  /session                   {"user","groups","pgsyncUrl"}, or 401 when not signed in
  POST /signout                   ends the session
  GET  /token                     {"token","expires_at"}: a token from pgsync-serve's POST /v1/token
                                  that grants public.messages of the user's groups
  POST /messages {"group","text"} inserts a message by the signed-in user into one of their groups
  POST /authorize-row             pgsync-serve's row webhook: {"userId","sourceDbId","schema",
                                  "table","row"} -> {"delivery_authorized": bool}, or an array of
                                  those -> an array of answers (serve.auth.row_webhook.batch_size)
  GET  /stats                     counters: webhook calls and checks, tokens issued, messages sent
"""

import argparse
import base64
import hashlib
import hmac
import http.server
import json
import os
import secrets
import signal
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import psycopg2
import psycopg2.pool

HERE = os.path.dirname(os.path.abspath(__file__))
CLIENT_JS = os.path.normpath(os.path.join(HERE, "..", "..", "clients", "js", "pgsync.js"))
STATIC = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/index.html": ("index.html", "text/html; charset=utf-8"),
    "/chat.js": ("chat.js", "text/javascript; charset=utf-8"),
    "/chat.css": ("chat.css", "text/css; charset=utf-8"),
    "/pgsync.js": (CLIENT_JS, "text/javascript; charset=utf-8"),
}
SESSION_COOKIE = "chat_session"
SESSION_SECONDS = 7 * 86400
MAX_BODY = 1 << 20
MAX_MESSAGE = 4000


def log(text):
    print(f"chat-backend: {text}", file=sys.stderr, flush=True)


class HttpError(Exception):
    """Ends a request with status and {"error": message} (raised anywhere in a handler)."""

    def __init__(self, status, message, headers=()):
        super().__init__(message)
        self.status = status
        self.headers = headers


class Database:
    """A small pool of autocommit connections; a connection that broke is replaced, and the
    statement tried once more (PostgreSQL restarted, or a connection timed out)."""

    CONNECTIONS = 8

    def __init__(self, dsn):
        self.pool = psycopg2.pool.ThreadedConnectionPool(1, self.CONNECTIONS, dsn)
        # The pool raises when empty; requests (up to the webhook's concurrency) wait their turn.
        self.turns = threading.BoundedSemaphore(self.CONNECTIONS)

    def run(self, sql, params=()):
        with self.turns:
            return self._run(sql, params)

    def _run(self, sql, params):
        for attempt in (1, 2):
            connection = self.pool.getconn()
            broken = False
            try:
                connection.autocommit = True
                with connection.cursor() as cursor:
                    cursor.execute(sql, params)
                    return cursor.fetchall() if cursor.description else []
            except (psycopg2.OperationalError, psycopg2.InterfaceError):
                broken = True
                if attempt == 2:
                    raise
            finally:
                self.pool.putconn(connection, close=broken)
        return []

    def groups_of(self, user):
        rows = self.run("SELECT group_name FROM group_members WHERE user_name = %s "
                        "ORDER BY group_name", (user,))
        return [name for (name,) in rows]

    def memberships(self, users):
        rows = self.run("SELECT user_name, group_name FROM group_members "
                        "WHERE user_name = ANY(%s)", (list(users),))
        return set(rows)


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.counts = {"webhook_calls": 0, "webhook_checks": 0, "webhook_denied": 0,
                       "tokens": 0, "token_failures": 0, "messages": 0}

    def add(self, **counts):
        with self.lock:
            for name, value in counts.items():
                self.counts[name] += value

    def snapshot(self):
        with self.lock:
            return dict(self.counts)


class Sessions:
    """Sessions in a signed cookie: user name, expiry and an HMAC-SHA256 over both, so that no
    state is kept here and a restarted backend (with the same secret) keeps its users."""

    def __init__(self, secret):
        self.secret = secret

    def _mac(self, payload):
        return hmac.new(self.secret, payload.encode(), hashlib.sha256).hexdigest()

    def issue(self, user):
        name = base64.urlsafe_b64encode(user.encode()).decode().rstrip("=")
        payload = f"{name}.{int(time.time()) + SESSION_SECONDS}"
        return f"{payload}.{self._mac(payload)}"

    def user(self, cookie_header):
        for part in (cookie_header or "").split(";"):
            key, _, value = part.strip().partition("=")
            if key != SESSION_COOKIE:
                continue
            payload, _, mac = value.rpartition(".")
            name, _, expiry = payload.partition(".")
            if not hmac.compare_digest(mac, self._mac(payload)):
                return None
            if not expiry.isdigit() or int(expiry) < time.time():
                return None
            try:
                return base64.urlsafe_b64decode(name + "=" * (-len(name) % 4)).decode()
            except ValueError:
                return None
        return None


def token_grant(groups):
    """The token's mandatory filter on public.messages: the user's groups, as parameters (the
    filter grammar of pgsync-serve(1), FILTERS, has IN lists but no arrays)."""
    if not groups:
        return {"where": "FALSE"}
    marks = ", ".join(f"${i}" for i in range(1, len(groups) + 1))
    return {"where": f"group_name IN ({marks})", "params": list(groups)}


class App:
    def __init__(self, options):
        self.options = options
        self.db = Database(options.dsn)
        self.stats = Stats()
        secret = os.environ.get(options.session_secret_env, "")
        self.sessions = Sessions(secret.encode() if secret else secrets.token_bytes(32))
        # pgsync-serve sends this with every webhook call (row_webhook.secret_env): without it,
        # anyone who reaches /authorize-row could ask who may see what.
        self.webhook_secret = os.environ.get(options.webhook_secret_env, "")
        self.api_key = os.environ.get(options.api_key_env, "")
        if not self.api_key:
            raise SystemExit(f"chat-backend: error: the environment variable "
                             f"\"{options.api_key_env}\" (pgsync-serve's API key) is not set")
        url = urllib.parse.urlsplit(options.pgsync_url)
        if url.scheme not in ("http", "https") or not url.netloc:
            raise SystemExit(f"chat-backend: error: --pgsync-url \"{options.pgsync_url}\" is not "
                             "an http:// or https:// address")
        self.pgsync_http = options.pgsync_url.rstrip("/")
        self.pgsync_ws = ("wss" if url.scheme == "https" else "ws") + "://" + url.netloc + url.path
        self.pgsync_ws = self.pgsync_ws.rstrip("/")

    def session(self, user):
        return {"user": user, "groups": self.db.groups_of(user), "pgsyncUrl": self.pgsync_ws}

    def token(self, user):
        groups = self.db.groups_of(user)
        tables = {"public.messages": token_grant(groups) if self.options.token_filter else {}}
        body = json.dumps({"userId": user, "tables": tables,
                           "ttl": self.options.token_ttl}).encode()
        request = urllib.request.Request(
            self.pgsync_http + "/v1/token", data=body, method="POST",
            headers={"Content-Type": "application/json", "x-api-key": self.api_key})
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                answer = json.loads(response.read())
        except urllib.error.HTTPError as error:
            self.stats.add(token_failures=1)
            detail = error.read(2000).decode(errors="replace").strip()
            raise HttpError(502, f"pgsync-serve refused the token request "
                                 f"(HTTP {error.code}): {detail}")
        except (urllib.error.URLError, OSError, ValueError) as error:
            self.stats.add(token_failures=1)
            reason = getattr(error, "reason", error)
            raise HttpError(503, f"pgsync-serve is not reachable at {self.pgsync_http}: {reason}")
        self.stats.add(tokens=1)
        return {"token": answer["token"], "expires_at": answer["expires_at"]}

    def authorize(self, checks):
        """One verdict per check: the user belongs to the row's group. Anything unexpected (another
        table, a row without group_name, a malformed check) is a denial."""
        users = {c.get("userId") for c in checks
                 if isinstance(c, dict) and isinstance(c.get("userId"), str)}
        members = self.db.memberships(users) if users else set()
        answers = []
        for check in checks:
            row = check.get("row") if isinstance(check, dict) else None
            allowed = (isinstance(row, dict)
                       and check.get("schema") == "public" and check.get("table") == "messages"
                       and (check.get("userId"), row.get("group_name")) in members)
            answers.append({"delivery_authorized": bool(allowed)})
        denied = sum(1 for a in answers if not a["delivery_authorized"])
        self.stats.add(webhook_calls=1, webhook_checks=len(checks), webhook_denied=denied)
        return answers

    def post_message(self, user, group, text):
        if group not in self.db.groups_of(user):
            raise HttpError(403, f"\"{user}\" is not a member of group \"{group}\"")
        rows = self.db.run(
            "INSERT INTO messages (group_name, sender_name, message_text) VALUES (%s, %s, %s) "
            "RETURNING message_id::text, message_timestamp", (group, user, text))
        self.stats.add(messages=1)
        message_id, timestamp = rows[0]
        return {"message_id": message_id, "message_timestamp": timestamp.isoformat()}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: pgsync-serve's webhook calls reuse connections
    server_version = "pgsync-chat-backend"
    app: App = None

    # --- plumbing ---

    def log_message(self, format, *args):  # noqa: A002 (the base class's name)
        if self.app.options.verbose:
            log(f"{self.address_string()} {format % args}")

    def send(self, status, body, content_type="application/json", headers=()):
        data = body if isinstance(body, bytes) else (json.dumps(body) + "\n").encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def read_json(self):
        if self.headers.get_content_type() != "application/json":
            # Also what keeps other sites' forms out: they cannot send JSON without CORS's consent.
            raise HttpError(415, "send the request body as application/json")
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            raise HttpError(411, "a Content-Length is required")
        if int(length) > MAX_BODY:
            raise HttpError(413, f"the body is larger than {MAX_BODY} bytes")
        try:
            return json.loads(self.rfile.read(int(length)))
        except ValueError:
            raise HttpError(400, "the body is not JSON")

    def signed_in(self):
        user = self.app.sessions.user(self.headers.get("Cookie"))
        if user is None:
            raise HttpError(401, "not signed in")
        return user

    def dispatch(self, routes):
        path = urllib.parse.urlsplit(self.path).path
        handler = routes.get(path)
        try:
            if handler is None:
                allowed = [m for m, table in (("GET", GET_ROUTES), ("POST", POST_ROUTES))
                           if path in table]
                if allowed:
                    raise HttpError(405, f"{self.command} is not allowed on {path}",
                                    [("Allow", ", ".join(allowed))])
                raise HttpError(404, f"no such page: {path}")
            handler(self)
        except HttpError as error:
            # The body may be unread: close rather than read the next request from its middle.
            self.close_connection = True
            self.send(error.status, {"error": str(error)},
                      headers=[*error.headers, ("Connection", "close")])
        except psycopg2.Error as error:
            log(f"database error on {self.command} {path}: {str(error).strip()}")
            self.close_connection = True
            self.send(503, {"error": f"the database failed: {str(error).strip().splitlines()[0]}"},
                      headers=[("Connection", "close")])

    def do_GET(self):
        self.dispatch(GET_ROUTES)

    def do_HEAD(self):
        self.dispatch(GET_ROUTES)

    def do_POST(self):
        self.dispatch(POST_ROUTES)

    # --- routes ---

    def static(self):
        name, content_type = STATIC[urllib.parse.urlsplit(self.path).path]
        try:
            with open(os.path.join(HERE, name), "rb") as file:
                data = file.read()
        except OSError as error:
            raise HttpError(404, f"could not read {name}: {error.strerror}")
        # No inline script or style anywhere; the page talks to this backend and pgsync-serve only.
        policy = (f"default-src 'self'; connect-src 'self' {self.app.pgsync_ws}; "
                  "object-src 'none'; base-uri 'none'; frame-ancestors 'none'")
        self.send(200, data, content_type, [("Content-Security-Policy", policy)])

    def get_session(self):
        self.send(200, self.app.session(self.signed_in()))

    def signin(self):
        body = self.read_json()
        user = body.get("user") if isinstance(body, dict) else None
        if not isinstance(user, str) or not user.strip() or len(user) > 100:
            raise HttpError(400, "give a user name (1 to 100 characters)")
        user = user.strip()
        if not self.app.db.groups_of(user):
            raise HttpError(403, f"\"{user}\" belongs to no group (try Priya, Tom or Maya)")
        cookie = (f"{SESSION_COOKIE}={self.app.sessions.issue(user)}; Path=/; HttpOnly; "
                  f"SameSite=Strict; Max-Age={SESSION_SECONDS}")
        self.send(200, self.app.session(user), headers=[("Set-Cookie", cookie)])

    def signout(self):
        self.read_json()
        self.send(200, {}, headers=[("Set-Cookie", f"{SESSION_COOKIE}=; Path=/; Max-Age=0")])

    def get_token(self):
        self.send(200, self.app.token(self.signed_in()))

    def messages(self):
        user = self.signed_in()
        body = self.read_json()
        group = body.get("group") if isinstance(body, dict) else None
        text = body.get("text") if isinstance(body, dict) else None
        if not isinstance(group, str) or not isinstance(text, str) or not text.strip():
            raise HttpError(400, "give a group and a text")
        if len(text) > MAX_MESSAGE:
            raise HttpError(413, f"a message has at most {MAX_MESSAGE} characters")
        self.send(201, self.app.post_message(user, group, text))

    def authorize_row(self):
        secret = self.app.webhook_secret
        if secret and not hmac.compare_digest(self.headers.get("Authorization", ""),
                                              "Bearer " + secret):
            raise HttpError(401, "the row webhook answers pgsync-serve only (Authorization: Bearer)")
        body = self.read_json()
        if isinstance(body, list):
            self.send(200, self.app.authorize(body))
        elif isinstance(body, dict):
            self.send(200, self.app.authorize([body])[0])
        else:
            raise HttpError(400, "expected a request object or an array of them")

    def get_stats(self):
        self.send(200, self.app.stats.snapshot())

    def no_icon(self):
        self.send(204, b"", "image/x-icon")  # browsers ask; a 404 would be logged in the console


GET_ROUTES = {path: Handler.static for path in STATIC}
GET_ROUTES.update({"/session": Handler.get_session, "/token": Handler.get_token,
                   "/stats": Handler.get_stats, "/favicon.ico": Handler.no_icon})
POST_ROUTES = {"/signin": Handler.signin, "/signout": Handler.signout,
               "/messages": Handler.messages, "/authorize-row": Handler.authorize_row}


def parse_options(argv):
    env = os.environ.get
    parser = argparse.ArgumentParser(
        prog="backend.py", description="The chat example's backend (examples/chat/README.md).")
    parser.add_argument("--listen", default=env("CHAT_LISTEN", "127.0.0.1:8000"),
                        help="host:port to listen on (default 127.0.0.1:8000; port 0: any free)")
    parser.add_argument("--dsn", default=env("CHAT_DSN", ""),
                        help="libpq connection string of the chat database (default: PG* vars)")
    parser.add_argument("--pgsync-url", default=env("CHAT_PGSYNC_URL", "http://127.0.0.1:8080"),
                        help="pgsync-serve's address, for POST /v1/token and the page's WebSocket")
    parser.add_argument("--api-key-env", default="PGSYNC_API_KEY",
                        help="the environment variable holding pgsync-serve's API key")
    parser.add_argument("--webhook-secret-env", default="CHAT_WEBHOOK_SECRET",
                        help="the environment variable holding the secret pgsync-serve sends to "
                             "/authorize-row (serve.auth.row_webhook.secret_env); unset: none asked")
    parser.add_argument("--session-secret-env", default="CHAT_SESSION_SECRET",
                        help="the environment variable holding the session cookie's key "
                             "(default: a random key per run, which signs everyone out)")
    parser.add_argument("--token-ttl", type=int, default=int(env("CHAT_TOKEN_TTL", "3600")),
                        help="lifetime of the tokens asked for, in seconds (1 to 86400)")
    parser.add_argument("--no-token-filter", dest="token_filter", action="store_false",
                        help="grant public.messages without a mandatory filter: the row webhook "
                             "alone keeps other groups' messages away")
    parser.add_argument("--ready-file", help="write host:port here once listening")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every request")
    options = parser.parse_args(argv)
    if not 1 <= options.token_ttl <= 86400:
        parser.error("--token-ttl must be 1 to 86400 seconds")
    host, _, port = options.listen.rpartition(":")
    if not host or not port.isdigit():
        parser.error(f"--listen \"{options.listen}\" is not host:port")
    options.host, options.port = host.strip("[]"), int(port)
    return options


def main(argv):
    options = parse_options(argv)
    Handler.app = App(options)
    server = http.server.ThreadingHTTPServer((options.host, options.port), Handler)
    server.daemon_threads = True
    address = f"{options.host}:{server.server_address[1]}"
    if options.ready_file:
        with open(options.ready_file + ".tmp", "w") as file:
            file.write(address + "\n")
        os.replace(options.ready_file + ".tmp", options.ready_file)
    log(f"listening on http://{address}/ (pgsync-serve at {options.pgsync_url})")
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
