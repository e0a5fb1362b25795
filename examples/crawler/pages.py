"""A tiny local web site for the crawler demo (no internet needed): pages with links and images, a
page that does not exist (404), and a port where nothing listens (connection refused)."""

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PAGES = {
    f"/page{i}.html": (
        f"<html><head><title>Page {i}</title></head><body>"
        f"<a href='/page{i % 5 + 1}.html'>next</a> <a href='https://example.org/{i}'>out</a>"
        f"<img src='/img/{i}.png'> <img src='/img/{i}b.jpg'></body></html>"
    )
    for i in range(1, 6)
}


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        page = PAGES.get(self.path.split("?", 1)[0])
        body = (page or "<html><title>Not found</title></html>").encode()
        self.send_response(200 if page else 404)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):  # quiet
        pass


def start():
    """Starts the site on a free port in a daemon thread; returns its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}"


def closed_port_url():
    """A URL on a port where nothing listens (bound then closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/page1.html"
