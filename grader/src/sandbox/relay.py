# Relay: runs in the candidate's network namespace (network mode
# container:<id>), which has only a loopback interface. Exposes the service's
# 127.0.0.1:PORT as a unix socket in a directory shared with the grader, so
# the grader reaches the service while the service reaches nothing.
import os, socket, sys, threading

PATH = "/sock/api.sock"
PORT = int(os.environ["TARGET_PORT"])

def pump(src, dst):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    try:
        dst.shutdown(socket.SHUT_WR)
    except OSError:
        pass

def serve(client):
    try:
        upstream = socket.create_connection(("127.0.0.1", PORT), timeout=5)
        upstream.settimeout(None)
    except OSError:
        client.close()
        return
    t = threading.Thread(target=pump, args=(client, upstream), daemon=True)
    t.start()
    pump(upstream, client)
    t.join()
    client.close()
    upstream.close()

def main():
    try:
        os.unlink(PATH)
    except FileNotFoundError:
        pass
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(PATH + ".tmp")
    os.chmod(PATH + ".tmp", 0o666)
    os.rename(PATH + ".tmp", PATH)  # appears only once it accepts
    srv.listen(256)
    print("relay listening", flush=True)
    while True:
        client, _ = srv.accept()
        threading.Thread(target=serve, args=(client,), daemon=True).start()

main()
