"""JT/T 808 (2013 and 2019) codec: framing, headers and the message bodies the platform needs. Pure: no I/O, no
clock reads (the reassembler is handed ``now``).

Framing. A frame is ``7E | header | body | check code | 7E``; between the flags ``7E`` is sent as ``7D 02`` and ``7D``
as ``7D 01`` (escaping is applied after the check code, the XOR of every header and body byte, is computed).
:class:`Splitter` cuts a TCP stream into frame contents (unescaped, without the flags); :func:`decode_frame` checks
one content and splits it into :class:`Header` and body; :func:`decode_body` turns a body into a message.

Versions. Bit 14 of the body attributes tells a 2019 header (protocol version BYTE, phone BCD[10]) from a 2013 one
(phone BCD[6]). One exception, taken from real terminals (SmallChi/JT808 keeps such a frame in its tests and reads
it with a "force 2013" switch): some 2013 terminals set the then-reserved bit 14. When the frame's length fits the
2013 header exactly and cannot fit the 2019 one, it is read as 2013; the lengths differ by five bytes, so this never
guesses between two readings that both fit. A 2019 frame whose length is off by exactly those five bytes fits the 2013
header too; when such a frame is then refused (check code or body), :func:`refusal_header` answers it in the 2019
header the bit announces, if that header can be read (see there).

Sub-packages. :class:`Reassembler` gathers the parts of a sub-packaged message and tells which parts to ask the
terminal for again (0x8003, :class:`RetransmitRequest`) and when; the server sends them.

Policy for a body length that disagrees with the bytes. The attributes' 10-bit length must equal the bytes between
header and check code, or the frame is refused with a :class:`FrameError` that carries the header (the server
answers 0x8001 "message error" to its serial). Traccar keeps one test frame (a 0x0200 in HuabaoProtocolDecoderTest)
that declares more body than it carries and also fails its check code, and decodes it anyway. We refuse it: the
length and the check code are the only integrity checks the protocol has; a frame failing both is as likely a
corrupted or spliced one as a sloppy terminal, and a position read from it could be wrong without anyone knowing.
Refusing costs nothing durable -- the terminal is told "message error" and a position it cares about is resent
(or back-filled with 0x0704) -- whereas a stored wrong position becomes evidence in the usage audit.

Speed. This sits on the ingest path (thousands of fixes a second), so the hot paths use precompiled ``struct``
objects, ``bytes.replace``/``translate`` rather than Python loops over bytes, and a big-integer fold for the XOR.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import IntEnum


class MessageId(IntEnum):
    TERMINAL_ACK = 0x0001
    HEARTBEAT = 0x0002
    LOGOUT = 0x0003
    REGISTER = 0x0100
    AUTHENTICATE = 0x0102
    LOCATION = 0x0200
    BATCH = 0x0704
    PLATFORM_ACK = 0x8001
    RETRANSMIT_REQUEST = 0x8003
    REGISTER_REPLY = 0x8100


class AckResult(IntEnum):
    """The result of a general answer (0x8001 from the platform, 0x0001 from the terminal)."""

    OK = 0
    FAILURE = 1
    MESSAGE_ERROR = 2
    UNSUPPORTED = 3
    ALARM_CONFIRMED = 4


class RegisterResult(IntEnum):
    """The result of a register reply (0x8100)."""

    OK = 0
    VEHICLE_TAKEN = 1
    NO_VEHICLE = 2
    TERMINAL_TAKEN = 3
    NO_TERMINAL = 4


@dataclass(frozen=True, slots=True)
class Header:
    msg_id: int
    phone: str  # the BCD digits as sent: 12 in 2013, 20 in 2019 (leading zeros kept)
    serial: int  # 0..65535
    version: int | None = None  # None: a 2013 header; else the 2019 header's protocol version byte (bit 14 set)
    encrypted: int = 0  # body attribute bits 10-12 (non-zero: refused by the server)
    packet: tuple[int, int] | None = None  # (total, index from 1) when sub-packaged (bit 13)


class FrameError(ValueError):
    """A frame or body that cannot be read. ``header`` is set when the header could be read, so that the server can
    answer "message error" to the terminal's serial."""

    def __init__(self, reason: str, header: Header | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.header = header


# --- framing ---------------------------------------------------------------------------------------------------

FLAG = 0x7E
_FLAG = b"\x7e"
_ESC = b"\x7d"
_ESC_7D = b"\x7d\x01"
_ESC_7E = b"\x7d\x02"

MAX_BODY = 0x3FF  # the attributes' 10-bit length
_VERSION_BIT = 1 << 14
_PACKET_BIT = 1 << 13

_WORD2 = struct.Struct(">HH")
_HEAD13 = struct.Struct(">HH6sH")
_HEAD19 = struct.Struct(">HHB10sH")
_BYTE = struct.Struct(">B")
_WORD = struct.Struct(">H")
_DWORD = struct.Struct(">I")


def escape(data: bytes) -> bytes:
    """``7D`` -> ``7D 01`` first (so the ``7D`` of a ``7E`` escape is not escaped again), then ``7E`` -> ``7D 02``."""
    return data.replace(_ESC, _ESC_7D).replace(_FLAG, _ESC_7E)


def unescape(data: bytes) -> bytes:
    """The inverse of :func:`escape`; FrameError when a ``7D`` is not followed by ``01`` or ``02``.

    Every ``7D`` of a valid escaped run starts a pair, so the pairs never overlap and two ``replace`` calls undo
    them; the counts prove that each ``7D`` was followed by 01 or 02.
    """
    if _ESC not in data:
        return data
    if data.count(_ESC) != data.count(_ESC_7D) + data.count(_ESC_7E):
        raise FrameError("invalid escape: 0x7D not followed by 0x01 or 0x02")
    return data.replace(_ESC_7E, _FLAG).replace(_ESC_7D, _ESC)


def check_code(data: bytes) -> int:
    """XOR of every byte: fold the bytes read as one integer in halves (log2(n) big-int operations, no byte loop)."""
    width = len(data)
    value = int.from_bytes(data, "little")
    while width > 1:
        half = (width + 1) >> 1
        value = (value & ((1 << (half << 3)) - 1)) ^ (value >> (half << 3))
        width = half
    return value


class Splitter:
    """Stream -> frames. feed() returns, in order, each complete frame's content (between two 0x7E, unescaped,
    without the 0x7E) or a FrameError for an invalid escape / a run of bytes longer than max_frame without 0x7E
    (discarded, reported once). Empty runs (7E 7E) are skipped. Keeps a partial frame across calls.

    Bytes before the first 0x7E of the stream are treated like any run between flags: they are returned (and
    :func:`decode_frame` refuses them) if short, or discarded with one FrameError if longer than ``max_frame``. The
    buffer never holds more than ``max_frame`` bytes, whatever is fed.
    """

    def __init__(self, max_frame: int = 4096) -> None:
        # 4096 escaped bytes: a 2019 sub-packaged header (21) + the longest body (1023) + check, all escaped, is 2090.
        self.max_frame = max_frame
        self._buf = bytearray()
        self._discarding = False

    def feed(self, data: bytes) -> list[bytes | FrameError]:
        out: list[bytes | FrameError] = []
        start = 0
        while True:
            flag = data.find(_FLAG, start)
            whole = self._take(data, start, len(data) if flag < 0 else flag, out)
            if flag < 0:
                return out
            if whole and self._buf:
                run = bytes(self._buf)
                try:
                    out.append(unescape(run))
                except FrameError as error:
                    out.append(error)
            self._buf.clear()
            self._discarding = False  # a discarded run ends at the flag; the next byte starts a new run
            start = flag + 1

    @property
    def buffered(self) -> int:
        """Bytes held of a partial frame (never more than ``max_frame``)."""
        return len(self._buf)

    def _take(self, data: bytes, start: int, end: int, out: list[bytes | FrameError]) -> bool:
        """Append data[start:end] to the run; False (and one FrameError) once the run outgrows ``max_frame``."""
        if self._discarding:
            return False
        if start >= end:
            return True
        if len(self._buf) + (end - start) > self.max_frame:
            self._buf.clear()
            self._discarding = True
            out.append(FrameError(f"more than {self.max_frame} bytes without 0x7E (discarded)"))
            return False
        self._buf += data[start:end]
        return True


def _bcd_digits(raw: bytes) -> str | None:
    digits = raw.hex()
    return digits if digits.isdigit() else None


def _read_header(content: bytes, attrs: int, wide: bool) -> tuple[Header, int]:
    """The 2013 (``wide`` False) or 2019 reading of a frame's header, and where its body starts; FrameError (without
    a header) when the frame is too short for it or its phone is not BCD."""
    size = len(content)
    version: int | None = None
    if wide:
        if size < _HEAD19.size + 1:
            raise FrameError(f"frame of {size} bytes is shorter than a 2019 header")
        msg_id, _, version, raw_phone, serial = _HEAD19.unpack_from(content)
        offset = _HEAD19.size
    else:
        msg_id, _, raw_phone, serial = _HEAD13.unpack_from(content)
        offset = _HEAD13.size
    phone = _bcd_digits(raw_phone)
    if phone is None:
        raise FrameError(f"terminal phone {raw_phone.hex()} is not BCD")
    packet: tuple[int, int] | None = None
    if attrs & _PACKET_BIT:
        if size < offset + 5:
            raise FrameError(f"frame of {size} bytes is shorter than a sub-packaged header")
        packet = _WORD2.unpack_from(content, offset)
        offset += 4
    return Header(msg_id, phone, serial, version, (attrs >> 10) & 0x7, packet), offset


def decode_frame(content: bytes) -> tuple[Header, bytes]:
    """A frame's content (unescaped, without the flags) -> (header, body). FrameError when the header cannot be read
    (``header`` None), or the check code or the body length is wrong (``header`` set)."""
    size = len(content)
    if size < _HEAD13.size + 1:
        raise FrameError(f"frame of {size} bytes is shorter than a header")
    attrs = _WORD.unpack_from(content, 2)[0]
    body_len = attrs & MAX_BODY
    packet_len = 4 if attrs & _PACKET_BIT else 0
    # A frame that fits only the 2013 header is read so even with bit 14 set: 2013 terminals that set the then-reserved
    # bit exist (the module docstring); refusal_header answers it as 2019 if it proves malformed.
    wide = bool(attrs & _VERSION_BIT) and size != _HEAD13.size + packet_len + body_len + 1
    header, offset = _read_header(content, attrs, wide)
    expected = content[-1]
    actual = check_code(content[:-1])
    if actual != expected:
        raise FrameError(f"check code 0x{expected:02x} != 0x{actual:02x}", header)
    carried = size - offset - 1
    if carried != body_len:
        raise FrameError(f"body length {body_len} != {carried}", header)
    return header, content[offset:-1]


def refusal_header(content: bytes, header: Header | None) -> Header | None:
    """The header to send "message error" to for a frame's content that was refused, ``header`` being the one read
    from it (None: none could be). That is ``header``, except for a frame that sets bit 14 but was read as 2013
    because its length fits only the 2013 header: then the frame's 2019 reading, when that can be read.

    Such a frame is either a 2013 terminal's that sets the reserved bit (well-formed as 2013: the module docstring)
    or a 2019 terminal's whose length is off by the five bytes the headers differ by. Once it is refused, its
    well-formedness -- the only evidence for the 2013 reading -- is gone, and the bit it sets says 2019: a 2019
    terminal reads only a 2019 header, and an answer in a 2013 header built from its version byte and half its
    number reaches nobody. A 2013 terminal's frame seldom has a 2019 reading at all (its body falls where the 2019
    number is, and is rarely BCD), so a 2013 terminal keeps its 2013 answers.
    """
    if len(content) < _HEAD13.size + 1:
        return header
    attrs = _WORD.unpack_from(content, 2)[0]
    if not attrs & _VERSION_BIT or (header is not None and header.version is not None):
        return header
    try:
        return _read_header(content, attrs, wide=True)[0]
    except FrameError:
        return header


def encode_frame(header: Header, body: bytes) -> bytes:
    """The whole frame: 7E, escaped header + body + check code, 7E. ValueError for a body over 1023 bytes."""
    if len(body) > MAX_BODY:
        raise ValueError(f"body of {len(body)} bytes exceeds {MAX_BODY} (send it sub-packaged)")
    attrs = len(body) | (header.encrypted & 0x7) << 10
    if header.packet is not None:
        attrs |= _PACKET_BIT
    phone = phone_bcd(header.phone, header.version)
    if header.version is None:
        head = _HEAD13.pack(header.msg_id, attrs, bytes.fromhex(phone), header.serial)
    else:
        head = _HEAD19.pack(header.msg_id, attrs | _VERSION_BIT, header.version, bytes.fromhex(phone), header.serial)
    if header.packet is not None:
        head += _WORD2.pack(*header.packet)
    content = head + body
    return b"\x7e" + escape(content + bytes((check_code(content),))) + b"\x7e"


def phone_bcd(phone: str, version: int | None) -> str:
    """The phone number padded with leading zeros to 12 digits (2013) or 20 (2019); ValueError if it cannot be."""
    width = 12 if version is None else 20
    if not (phone.isascii() and phone.isdigit()) or len(phone) > width:
        raise ValueError(f"terminal phone {phone!r} is not at most {width} digits")
    return phone.rjust(width, "0")


_Key = tuple[str, int, int, int]  # phone, msg_id, total, first part's serial


@dataclass(slots=True)
class _Partial:
    """A sub-packaged message some of whose parts are held."""

    first_seen: float
    touched: float  # when its last part came or it was last asked for, whichever is later
    parts: dict[int, tuple[Header, bytes]]
    asked: int = 0  # retransmission requests (0x8003) made for it


# The most indices one 0x8003 names: its count is a BYTE in 2013. More missing parts are asked for next time.
_MAX_ASKED = 0xFF


class Reassembler:
    """Sub-packaged messages (bit 13): returns the whole (header with packet=None, body) once every index
    1..total of one message arrived; parts older than `ttl` seconds are dropped by expire().

    A message is its (phone, msg_id, total) and its first part's serial: the parts of one message carry consecutive
    serials (the platform's 0x8003 asks for missing parts by the first part's serial), so part ``index`` of serial
    ``s`` belongs to the message whose first serial is ``s - index + 1``. Two messages of the same id and size in
    flight at once (a 0x0704 whose first part was lost, then the next 0x0704) are thereby never spliced together.
    A terminal that numbers every part of a message alike is still understood: a part joins a message held whose
    parts all carry its serial and lack its index.

    The whole message gets the first part's header (its serial), without ``packet``. A part that repeats an index
    replaces it (a terminal resends unanswered parts). At most ``max_parts`` parts are held in all; beyond that the
    oldest message is dropped, so a terminal cannot grow the memory without bound.

    Missing parts are asked for again (:meth:`requests`, 0x8003; the standard has the terminal resend each part
    named, identical to the original, serial included, so it joins the message held). A request falls due:

    - at once when the message's last part arrives and others are missing: a terminal sends its parts in order on
      one connection, so a gap before the last part is a loss (a part refused for its check code, say), and waiting
      would only delay the fixes;
    - ``resend_after`` seconds after the last part or request for it, whichever came later: the last part may be
      lost too, or the request (or its answer) was; nothing else tells that the terminal has finished sending.

    At most ``max_requests`` are made per message: a terminal that does not answer them is not asked for ever, and
    its partial is dropped after ``ttl`` as before.
    """

    def __init__(
        self, ttl: float = 60.0, max_parts: int = 256, resend_after: float = 10.0, max_requests: int = 3
    ) -> None:
        self.ttl = ttl
        self.max_parts = max_parts
        self.resend_after = resend_after
        self.max_requests = max_requests
        self._pending: dict[_Key, _Partial] = {}
        self._held = 0

    def _key(self, header: Header, total: int, index: int) -> _Key:
        key = (header.phone, header.msg_id, total, (header.serial - index + 1) & 0xFFFF)
        if key in self._pending:
            return key
        for held, partial in self._pending.items():
            if (held[:3] == key[:3] and index not in partial.parts
                    and all(h.serial == header.serial for h, _ in partial.parts.values())):
                return held
        return key

    def feed(self, header: Header, body: bytes, now: float) -> tuple[Header, bytes] | None:
        if header.packet is None:
            return header, body
        total, index = header.packet
        if not 1 <= index <= total:
            raise FrameError(f"sub-package index {index} outside 1..{total}", header)
        if total > self.max_parts:
            raise FrameError(f"{total} sub-packages exceed the limit of {self.max_parts}", header)
        key = self._key(header, total, index)
        partial = self._pending.get(key)
        if partial is None:
            partial = self._pending[key] = _Partial(now, now, {})
        if index not in partial.parts:
            self._held += 1
        partial.parts[index] = (header, body)
        partial.touched = now
        parts = partial.parts
        if len(parts) == total:
            del self._pending[key]
            self._held -= total
            first = parts[1][0]
            return replace(first, packet=None), b"".join(parts[i][1] for i in range(1, total + 1))
        while self._held > self.max_parts:
            oldest = min(self._pending, key=lambda k: self._pending[k].first_seen)
            self._held -= len(self._pending.pop(oldest).parts)
        return None

    def expire(self, now: float) -> None:
        for key in [k for k, partial in self._pending.items() if now - partial.first_seen > self.ttl]:
            self._held -= len(self._pending.pop(key).parts)

    def _due(self, key: _Key, partial: _Partial) -> float:
        """When the next request for this message falls due (inf: no more are made)."""
        if partial.asked >= self.max_requests:
            return math.inf
        if not partial.asked and key[2] in partial.parts:
            return partial.touched
        return partial.touched + self.resend_after

    def requests(self, now: float) -> list[tuple[Header, RetransmitRequest]]:
        """The retransmission requests due at ``now``, counted as made: each with a header of the message's parts
        (the terminal's number and header version to send it with). Call :meth:`expire` first: a message past its
        ttl is not asked for."""
        due: list[tuple[Header, RetransmitRequest]] = []
        for key, partial in self._pending.items():
            if self._due(key, partial) > now:
                continue
            partial.asked += 1
            partial.touched = now
            parts = partial.parts
            missing = tuple(i for i in range(1, key[2] + 1) if i not in parts)[:_MAX_ASKED]
            headers = [header for header, _ in parts.values()]
            # The first part's serial; a terminal that numbers every part alike is asked by the serial they share.
            serials = {header.serial for header in headers}
            serial = serials.pop() if len(headers) > 1 and len(serials) == 1 else key[3]
            due.append((headers[0], RetransmitRequest(serial, missing)))
        return due

    def next_due(self) -> float | None:
        """When :meth:`requests` will next have one to make; None: none will unless parts arrive."""
        when = min((self._due(key, partial) for key, partial in self._pending.items()), default=math.inf)
        return None if when == math.inf else when

    @property
    def pending(self) -> int:
        """Parts held, awaiting the rest of their message."""
        return self._held


# --- message bodies --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Register:
    province: int
    city: int
    maker: str
    model: str
    device_no: str
    plate_colour: int
    plate: str


@dataclass(frozen=True, slots=True)
class RegisterReply:
    serial: int
    result: int
    auth_code: str | None = None


@dataclass(frozen=True, slots=True)
class Authenticate:
    code: str
    imei: str | None = None  # 2019 only
    software_version: str | None = None  # 2019 only


@dataclass(frozen=True, slots=True)
class GeneralAck:
    """Body of 0x8001 (platform) and 0x0001 (terminal)."""

    serial: int
    msg_id: int
    result: int


STATUS_ACC = 1 << 0
STATUS_POSITIONED = 1 << 1
STATUS_SOUTH = 1 << 2
STATUS_WEST = 1 << 3
EXTRA_MILEAGE = 0x01
EXTRA_UNPARSED = -1  # Location.extras key of a tail that is not id/length/value items, kept raw


@dataclass(frozen=True, slots=True)
class Location:
    alarm: int
    status: int
    lat: float  # signed degrees: the hemisphere status bits (2 south, 3 west) applied
    lon: float
    altitude_m: int
    speed_kmh: float
    course: int
    fixed_at: datetime  # aware UTC (the BCD time is UTC+8)
    extras: dict[int, bytes]  # extra id -> raw value, all of them kept (EXTRA_UNPARSED: an unreadable tail)

    @property
    def acc(self) -> bool:
        return bool(self.status & STATUS_ACC)

    @property
    def timeless(self) -> bool:
        """An all-zero BCD time (``NO_TIME``): the terminal has no fix yet."""
        return self.fixed_at == NO_TIME

    @property
    def positioned(self) -> bool:
        return bool(self.status & STATUS_POSITIONED)

    @property
    def mileage_km(self) -> float | None:
        """Extra 0x01: the odometer, DWORD in 0.1 km; None when absent or not four bytes."""
        raw = self.extras.get(EXTRA_MILEAGE)
        if raw is None or len(raw) != 4:
            return None
        return int(_DWORD.unpack(raw)[0]) / 10


@dataclass(frozen=True, slots=True)
class Batch:
    kind: int  # 0 normal, 1 blind-area back-fill
    locations: tuple[Location, ...]


@dataclass(frozen=True, slots=True)
class RetransmitRequest:
    """Body of 0x8003 (补传分包请求): the platform asks the terminal to send these parts of a sub-packaged message
    again. The count before the indices is a BYTE in 2013 and a WORD in 2019 (JT/T 808-2019 table 6; SmallChi/JT808's
    JT808_0x8003, yezhihao/jt808-server's T8003 and toggery's B8003Codec agree; go-jt808 writes a BYTE for both)."""

    serial: int  # the first part's serial
    indices: tuple[int, ...]  # from 1


@dataclass(frozen=True, slots=True)
class Unknown:
    msg_id: int
    body: bytes


Message = (
    Register | RegisterReply | Authenticate | GeneralAck | Location | Batch | RetransmitRequest | Unknown | None
)  # None: an empty body

_ACK = struct.Struct(">HHB")
_REPLY = struct.Struct(">HB")
_LOCATION = struct.Struct(">IIIIHHH6s")
_REGISTER_HEAD = struct.Struct(">HH")
_BATCH_HEAD = struct.Struct(">HB")
_RETRANSMIT_2013 = struct.Struct(">HB")
_RETRANSMIT_2019 = struct.Struct(">HH")
# Widths of the register's maker, model and terminal id: 2013, 2019, and 2011 (still sent by old 2013-header
# terminals; recognised by a body too short for the 2013 widths).
_WIDTHS_2013 = (5, 20, 7)
_WIDTHS_2019 = (11, 30, 30)
_WIDTHS_2011 = (5, 8, 7)
_IMEI = 15
_SOFTWARE_VERSION = 20

_CST = timedelta(hours=8)  # the BCD time is Beijing time
# BCD byte -> its value (0..99); 0xFF for a byte that is not two decimal digits.
_BCD = bytes((b >> 4) * 10 + (b & 0xF) if b >> 4 < 10 and b & 0xF < 10 else 0xFF for b in range(256))


def _text(raw: bytes) -> str:
    """A fixed-width or trailing STRING field: GBK, padding NULs and spaces stripped (never raises)."""
    return raw.decode("gbk", errors="replace").strip("\x00 ")


def _fixed(text: str, width: int, name: str) -> bytes:
    raw = text.encode("gbk")
    if len(raw) > width:
        raise ValueError(f"{name} {text!r} is longer than {width} bytes")
    return raw.ljust(width, b"\x00")


# An all-zero BCD time: a terminal's first report at power-on, before it has a fix (and a time) of its own. Not a
# date: decoded as this sentinel (before any BCD date) so that the platform acknowledges the report and stores
# nothing, instead of answering "message error" to a well-formed frame. Encoded back as zeros.
NO_TIME = datetime(1970, 1, 1, tzinfo=UTC)
_ZERO_TIME = bytes(6)


def _decode_time(raw: bytes) -> datetime:
    if raw == _ZERO_TIME:
        return NO_TIME
    values = raw.translate(_BCD)
    if 0xFF in values:
        raise FrameError(f"time {raw.hex()} is not BCD")
    year, month, day, hour, minute, second = values
    try:
        return datetime(2000 + year, month, day, hour, minute, second, tzinfo=UTC) - _CST
    except ValueError:
        raise FrameError(f"time {raw.hex()} is not a date") from None


def _encode_time(moment: datetime) -> bytes:
    if moment.tzinfo is None:
        raise ValueError("fixed_at must be timezone-aware")
    if moment == NO_TIME:
        return _ZERO_TIME
    local = moment.astimezone(UTC) + _CST
    if not 2000 <= local.year <= 2099:
        raise ValueError(f"fixed_at {moment.isoformat()} is outside 2000-2099 (Beijing time)")
    return bytes.fromhex(local.strftime("%y%m%d%H%M%S"))


def decode_location(body: bytes) -> Location:
    """A 0x0200 body (also each item of a 0x0704 batch)."""
    if len(body) < _LOCATION.size:
        raise FrameError(f"location body of {len(body)} bytes is shorter than {_LOCATION.size}")
    alarm, status, lat_raw, lon_raw, altitude, speed, course, when = _LOCATION.unpack_from(body)
    if lat_raw > 90_000_000 or lon_raw > 180_000_000:
        raise FrameError(f"latitude {lat_raw} or longitude {lon_raw} out of range (10^-6 degrees)")
    extras: dict[int, bytes] = {}
    offset, end = _LOCATION.size, len(body)
    while offset < end:
        length = body[offset + 1] if offset + 1 < end else 0xFFFF
        if offset + 2 + length > end or body[offset] in extras:
            # Extras are where vendors deviate (Traccar's suite has a 0x0200 whose tail is not id/length/value):
            # the position itself is sound, so the unreadable tail (from a truncated or repeated item on) is kept
            # raw rather than the fix refused; encoding writes it back as it came.
            extras[EXTRA_UNPARSED] = body[offset:]
            break
        extras[body[offset]] = body[offset + 2 : offset + 2 + length]
        offset += 2 + length
    lat = lat_raw / 1e6
    lon = lon_raw / 1e6
    return Location(
        alarm,
        status,
        -lat if status & STATUS_SOUTH else lat,
        -lon if status & STATUS_WEST else lon,
        altitude,
        speed / 10,
        course,
        _decode_time(when),
        extras,
    )


def encode_location(location: Location) -> bytes:
    """The hemisphere bits are taken from the signs of lat/lon (a -0.0 counts as south/west), overriding status."""
    south = math.copysign(1.0, location.lat) < 0
    west = math.copysign(1.0, location.lon) < 0
    status = (location.status & ~(STATUS_SOUTH | STATUS_WEST)) | (STATUS_SOUTH if south else 0)
    status |= STATUS_WEST if west else 0
    lat_raw, lon_raw = round(abs(location.lat) * 1e6), round(abs(location.lon) * 1e6)
    if lat_raw > 90_000_000 or lon_raw > 180_000_000:
        raise ValueError(f"latitude {location.lat} or longitude {location.lon} out of range")
    parts = [
        _LOCATION.pack(
            location.alarm,
            status,
            lat_raw,
            lon_raw,
            location.altitude_m,
            round(location.speed_kmh * 10),
            location.course,
            _encode_time(location.fixed_at),
        )
    ]
    for extra_id, value in location.extras.items():
        if extra_id == EXTRA_UNPARSED:
            continue
        if len(value) > 0xFF:
            raise ValueError(f"extra 0x{extra_id:02x} of {len(value)} bytes exceeds 255")
        parts.append(bytes((extra_id, len(value))) + value)
    parts.append(location.extras.get(EXTRA_UNPARSED, b""))
    return b"".join(parts)


def _decode_register(body: bytes, version: int | None) -> Register:
    widths = _WIDTHS_2013 if version is None else _WIDTHS_2019
    if version is None and len(body) < 5 + sum(widths):
        widths = _WIDTHS_2011
    if len(body) < 5 + sum(widths):
        raise FrameError(f"register body of {len(body)} bytes is too short")
    province, city = _REGISTER_HEAD.unpack_from(body)
    maker_end = 4 + widths[0]
    model_end = maker_end + widths[1]
    device_end = model_end + widths[2]
    return Register(
        province,
        city,
        _text(body[4:maker_end]),
        _text(body[maker_end:model_end]),
        _text(body[model_end:device_end]),
        body[device_end],
        _text(body[device_end + 1 :]),
    )


def _encode_register(message: Register, version: int | None) -> bytes:
    maker, model, device = _WIDTHS_2013 if version is None else _WIDTHS_2019
    return b"".join(
        (
            _REGISTER_HEAD.pack(message.province, message.city),
            _fixed(message.maker, maker, "maker"),
            _fixed(message.model, model, "model"),
            _fixed(message.device_no, device, "device_no"),
            bytes((message.plate_colour,)),
            message.plate.encode("gbk"),
        )
    )


def _decode_authenticate(body: bytes, version: int | None) -> Authenticate:
    if version is None:
        return Authenticate(_text(body))
    if not body or len(body) < 1 + body[0] + _IMEI:
        raise FrameError(f"2019 authenticate body of {len(body)} bytes is too short")
    code_end = 1 + body[0]
    imei_end = code_end + _IMEI
    rest = body[imei_end:]
    # The 2019 standard (and SmallChi/JT808, yezhihao/jt808-server, EMQX) has the software version as BYTE[20],
    # NUL-padded; some write it as a length BYTE and the text. Both are read; the fixed form is written.
    if len(rest) == _SOFTWARE_VERSION:
        software = rest
    elif rest and rest[0] == len(rest) - 1:
        software = rest[1:]
    elif not rest:
        software = b""
    else:
        raise FrameError(f"2019 authenticate: software version of {len(rest)} bytes is neither BYTE[20] nor counted")
    return Authenticate(_text(body[1:code_end]), _text(body[code_end:imei_end]), _text(software))


def _encode_authenticate(message: Authenticate, version: int | None) -> bytes:
    code = message.code.encode("gbk")
    if version is None:
        if message.imei is not None or message.software_version is not None:
            raise ValueError("a 2013 authenticate carries only the code (imei and software_version are 2019)")
        return code
    if len(code) > 0xFF:
        raise ValueError(f"authentication code of {len(code)} bytes exceeds 255")
    return b"".join(
        (
            bytes((len(code),)),
            code,
            _fixed(message.imei or "", _IMEI, "imei"),
            _fixed(message.software_version or "", _SOFTWARE_VERSION, "software_version"),
        )
    )


def _decode_batch(body: bytes) -> Batch:
    if len(body) < _BATCH_HEAD.size:
        raise FrameError(f"batch body of {len(body)} bytes is too short")
    count, kind = _BATCH_HEAD.unpack_from(body)
    locations = []
    offset, end = _BATCH_HEAD.size, len(body)
    for number in range(count):
        if offset + 2 > end:
            raise FrameError(f"batch declares {count} locations, carries {number}")
        (length,) = _WORD.unpack_from(body, offset)
        offset += 2 + length
        if offset > end:
            raise FrameError(f"batch location {number + 1} declares {length} bytes, {end - offset + length} left")
        locations.append(decode_location(body[offset - length : offset]))
    if offset != end:
        raise FrameError(f"batch carries {end - offset} bytes after its {count} locations")
    return Batch(kind, tuple(locations))


def _encode_batch(message: Batch) -> bytes:
    parts = [_BATCH_HEAD.pack(len(message.locations), message.kind)]
    for location in message.locations:
        item = encode_location(location)
        parts.append(_WORD.pack(len(item)) + item)
    return b"".join(parts)


def _decode_retransmit(body: bytes, version: int | None) -> RetransmitRequest:
    head = _RETRANSMIT_2013 if version is None else _RETRANSMIT_2019
    if len(body) < head.size:
        raise FrameError(f"retransmission request body of {len(body)} bytes is too short")
    serial, count = head.unpack_from(body)
    if len(body) != head.size + 2 * count:
        raise FrameError(f"retransmission request names {count} parts in {len(body) - head.size} bytes")
    return RetransmitRequest(serial, struct.unpack_from(f">{count}H", body, head.size))


def _encode_retransmit(message: RetransmitRequest, version: int | None) -> bytes:
    head = _RETRANSMIT_2013 if version is None else _RETRANSMIT_2019
    count = len(message.indices)
    if count > (0xFF if version is None else 0xFFFF):
        raise ValueError(f"{count} parts are more than one retransmission request names")
    return head.pack(message.serial, count) + struct.pack(f">{count}H", *message.indices)


def decode_body(header: Header, body: bytes) -> Message:
    """The message a body carries; FrameError (with the header) for a malformed body of a known id."""
    msg_id = header.msg_id
    try:
        if msg_id == MessageId.LOCATION:
            return decode_location(body)
        if msg_id == MessageId.BATCH:
            return _decode_batch(body)
        if msg_id in (MessageId.HEARTBEAT, MessageId.LOGOUT):
            return None  # their bodies are empty; a stray byte does not make a heartbeat malformed
        if msg_id in (MessageId.PLATFORM_ACK, MessageId.TERMINAL_ACK):
            if len(body) != _ACK.size:
                raise FrameError(f"general answer body of {len(body)} bytes != {_ACK.size}")
            return GeneralAck(*_ACK.unpack(body))
        if msg_id == MessageId.AUTHENTICATE:
            return _decode_authenticate(body, header.version)
        if msg_id == MessageId.REGISTER:
            return _decode_register(body, header.version)
        if msg_id == MessageId.REGISTER_REPLY:
            if len(body) < _REPLY.size:
                raise FrameError(f"register reply body of {len(body)} bytes is too short")
            serial, result = _REPLY.unpack_from(body)
            code = _text(body[_REPLY.size :]) if result == RegisterResult.OK else None
            return RegisterReply(serial, result, code)
        if msg_id == MessageId.RETRANSMIT_REQUEST:
            return _decode_retransmit(body, header.version)
    except FrameError as error:
        raise FrameError(error.reason, header) from None
    return Unknown(msg_id, body)


def encode_body(message: Message, version: int | None = None) -> bytes:
    """A message's body; ``version`` (None: 2013) picks the 2013 or 2019 field widths. ValueError if it cannot."""
    if message is None:
        return b""
    if isinstance(message, Location):
        return encode_location(message)
    if isinstance(message, Batch):
        return _encode_batch(message)
    if isinstance(message, GeneralAck):
        return _ACK.pack(message.serial, message.msg_id, message.result)
    if isinstance(message, Authenticate):
        return _encode_authenticate(message, version)
    if isinstance(message, Register):
        return _encode_register(message, version)
    if isinstance(message, RetransmitRequest):
        return _encode_retransmit(message, version)
    if isinstance(message, RegisterReply):
        head = _REPLY.pack(message.serial, message.result)
        if message.result == RegisterResult.OK:
            return head + (message.auth_code or "").encode("gbk")
        return head
    return message.body


_IDS: dict[type, int] = {
    Register: MessageId.REGISTER,
    RegisterReply: MessageId.REGISTER_REPLY,
    Authenticate: MessageId.AUTHENTICATE,
    GeneralAck: MessageId.PLATFORM_ACK,  # the terminal's own answer (0x0001) is sent with msg_id= given
    Location: MessageId.LOCATION,
    Batch: MessageId.BATCH,
    RetransmitRequest: MessageId.RETRANSMIT_REQUEST,
}


def message_id(message: Message) -> int:
    """The id a message is sent under (a GeneralAck: the platform's 0x8001; an Unknown: its own id)."""
    if isinstance(message, Unknown):
        return message.msg_id
    if message is None:
        raise ValueError("an empty body (heartbeat, logout) needs its msg_id given")
    return _IDS[type(message)]


def encode(
    message: Message, *, phone: str, serial: int, version: int | None = None, msg_id: int | None = None
) -> bytes:
    """A whole frame for one message (msg_id needed only for None bodies: heartbeat/logout)."""
    header = Header(message_id(message) if msg_id is None else msg_id, phone_bcd(phone, version), serial, version)
    return encode_frame(header, encode_body(message, version))
