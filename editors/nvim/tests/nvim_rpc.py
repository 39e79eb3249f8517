"""A small msgpack-RPC client for `nvim --embed --headless`, standard library only.

Enough MessagePack for Neovim's API: nil, booleans, integers, floats, strings, binary, arrays,
maps and extension types (buffer, window and tabpage handles come back as `Ext`).
"""

import io
import queue
import struct
import subprocess
import threading
import time


class Ext:
    def __init__(self, code, data):
        self.code = code
        self.data = data

    def __repr__(self):
        return f"Ext({self.code}, {self.data!r})"


class NvimError(Exception):
    pass


def pack(obj):
    out = io.BytesIO()
    _pack(obj, out)
    return out.getvalue()


def _pack(obj, out):
    if obj is None:
        out.write(b"\xc0")
    elif obj is True:
        out.write(b"\xc3")
    elif obj is False:
        out.write(b"\xc2")
    elif isinstance(obj, int):
        if 0 <= obj < 0x80:
            out.write(bytes([obj]))
        elif -32 <= obj < 0:
            out.write(struct.pack("b", obj))
        elif 0 <= obj < 1 << 64:
            for fmt, tag in (("B", 0xCC), ("H", 0xCD), ("I", 0xCE), ("Q", 0xCF)):
                if obj < 1 << (8 * struct.calcsize(fmt)):
                    out.write(bytes([tag]) + struct.pack(">" + fmt, obj))
                    break
        else:
            for fmt, tag in (("b", 0xD0), ("h", 0xD1), ("i", 0xD2), ("q", 0xD3)):
                bits = 8 * struct.calcsize(fmt) - 1
                if -(1 << bits) <= obj < 1 << bits:
                    out.write(bytes([tag]) + struct.pack(">" + fmt, obj))
                    break
    elif isinstance(obj, float):
        out.write(b"\xcb" + struct.pack(">d", obj))
    elif isinstance(obj, str):
        data = obj.encode("utf-8")
        n = len(data)
        if n < 32:
            out.write(bytes([0xA0 | n]))
        elif n < 1 << 8:
            out.write(b"\xd9" + struct.pack(">B", n))
        elif n < 1 << 16:
            out.write(b"\xda" + struct.pack(">H", n))
        else:
            out.write(b"\xdb" + struct.pack(">I", n))
        out.write(data)
    elif isinstance(obj, (bytes, bytearray)):
        n = len(obj)
        if n < 1 << 8:
            out.write(b"\xc4" + struct.pack(">B", n))
        elif n < 1 << 16:
            out.write(b"\xc5" + struct.pack(">H", n))
        else:
            out.write(b"\xc6" + struct.pack(">I", n))
        out.write(obj)
    elif isinstance(obj, (list, tuple)):
        n = len(obj)
        if n < 16:
            out.write(bytes([0x90 | n]))
        elif n < 1 << 16:
            out.write(b"\xdc" + struct.pack(">H", n))
        else:
            out.write(b"\xdd" + struct.pack(">I", n))
        for item in obj:
            _pack(item, out)
    elif isinstance(obj, dict):
        n = len(obj)
        if n < 16:
            out.write(bytes([0x80 | n]))
        elif n < 1 << 16:
            out.write(b"\xde" + struct.pack(">H", n))
        else:
            out.write(b"\xdf" + struct.pack(">I", n))
        for key, value in obj.items():
            _pack(key, out)
            _pack(value, out)
    elif isinstance(obj, Ext):
        out.write(b"\xc7" + struct.pack(">Bb", len(obj.data), obj.code) + obj.data)
    else:
        raise TypeError(f"cannot pack {type(obj).__name__}")


def _exact(stream, n):
    data = stream.read(n)
    if len(data) != n:
        raise EOFError("nvim closed its RPC channel")
    return data


def _num(stream, fmt):
    return struct.unpack(">" + fmt, _exact(stream, struct.calcsize(fmt)))[0]


def unpack(stream):
    """Reads one object from a binary stream; raises EOFError at its end."""
    tag = _exact(stream, 1)[0]
    if tag < 0x80:
        return tag
    if tag >= 0xE0:
        return tag - 0x100
    if 0x80 <= tag <= 0x8F:
        return _map(stream, tag & 0x0F)
    if 0x90 <= tag <= 0x9F:
        return [unpack(stream) for _ in range(tag & 0x0F)]
    if 0xA0 <= tag <= 0xBF:
        return _exact(stream, tag & 0x1F).decode("utf-8", "surrogateescape")
    simple = {0xC0: None, 0xC2: False, 0xC3: True}
    if tag in simple:
        return simple[tag]
    numbers = {
        0xCA: "f",
        0xCB: "d",
        0xCC: "B",
        0xCD: "H",
        0xCE: "I",
        0xCF: "Q",
        0xD0: "b",
        0xD1: "h",
        0xD2: "i",
        0xD3: "q",
    }
    if tag in numbers:
        return _num(stream, numbers[tag])
    sizes = {0: "B", 1: "H", 2: "I"}
    if tag in (0xC4, 0xC5, 0xC6):
        return _exact(stream, _num(stream, sizes[tag - 0xC4]))
    if tag in (0xD9, 0xDA, 0xDB):
        n = _num(stream, sizes[tag - 0xD9])
        return _exact(stream, n).decode("utf-8", "surrogateescape")
    if tag in (0xDC, 0xDD):
        n = _num(stream, "H" if tag == 0xDC else "I")
        return [unpack(stream) for _ in range(n)]
    if tag in (0xDE, 0xDF):
        return _map(stream, _num(stream, "H" if tag == 0xDE else "I"))
    fixext = {0xD4: 1, 0xD5: 2, 0xD6: 4, 0xD7: 8, 0xD8: 16}
    if tag in fixext:
        code = _num(stream, "b")
        return Ext(code, _exact(stream, fixext[tag]))
    if tag in (0xC7, 0xC8, 0xC9):
        n = _num(stream, sizes[tag - 0xC7])
        code = _num(stream, "b")
        return Ext(code, _exact(stream, n))
    raise ValueError(f"bad msgpack tag 0x{tag:02x}")


def _map(stream, n):
    result = {}
    for _ in range(n):
        key = unpack(stream)
        if isinstance(key, list):
            key = tuple(key)
        result[key] = unpack(stream)
    return result


class Nvim:
    """`nvim --embed --headless`: requests wait for their response; notifications are kept."""

    def __init__(self, argv, env, cwd, timeout=30.0):
        self.timeout = timeout
        self.process = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            cwd=cwd,
        )
        self._next_id = 0
        self._responses = queue.Queue()
        self.notifications = []
        self.stderr = []
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()

    def _read(self):
        stream = self.process.stdout
        try:
            while True:
                message = unpack(stream)
                if message[0] == 1:
                    self._responses.put(message)
                elif message[0] == 2:
                    self.notifications.append(message[1:])
        except (EOFError, ValueError, OSError) as err:
            self._responses.put(err)

    def _read_stderr(self):
        for line in self.process.stderr:
            self.stderr.append(line.decode("utf-8", "replace"))

    def _send(self, message):
        self.process.stdin.write(pack(message))
        self.process.stdin.flush()

    def request(self, method, *args):
        self._next_id += 1
        msgid = self._next_id
        self._send([0, msgid, method, list(args)])
        end = time.monotonic() + self.timeout
        while True:
            left = end - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"nvim did not answer {method} in {self.timeout}s")
            try:
                message = self._responses.get(timeout=left)
            except queue.Empty:
                continue
            if isinstance(message, Exception):
                raise NvimError(f"{method}: nvim is gone ({message}); {''.join(self.stderr)}")
            _, answer_id, error, result = message
            if answer_id != msgid:
                continue
            if error is not None:
                raise NvimError(f"{method}: {error}")
            return result

    def command(self, command):
        return self.request("nvim_command", command)

    def eval(self, expression):
        return self.request("nvim_eval", expression)

    def lua(self, code, *args):
        return self.request("nvim_exec_lua", code, list(args))

    def close(self):
        if self.process.poll() is None:
            try:
                self._send([2, "nvim_command", ["qa!"]])
            except OSError:
                pass
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
