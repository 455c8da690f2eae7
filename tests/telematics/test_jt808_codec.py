"""The JT/T 808 codec: public sample frames from open-source implementations' test suites, and round trips.

Sample frames are test data copied (hex only) from:
- TRACCAR: github.com/traccar/traccar, src/test/java/org/traccar/protocol/Jt808ProtocolDecoderTest.java at commit
  9e5c458ad0bf44ceaddf72534bf6874787f41b6c (the class was HuabaoProtocolDecoderTest.java before its rename).
- SMALLCHI: github.com/SmallChi/JT808, src/JT808.Protocol.Test/... at commit
  c9552b0f9eadc6906aeeaa501335c312ce082232 (file named at each frame; JT808_0x8003Test.cs read at commit
  06a09c098ff6224379b8786549c064475bbbaca1).
- GOJT808: github.com/cuteLittleDevil/go-jt808, protocol/model/parse_test.go ("P0x8003 平台-补发分包请求"), the same
  values as yezhihao/jt808-server's T8003 sample (serial 4249, parts 1..9).
Where the source's test states decoded values, the same values are asserted here.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from random import Random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from telematics.jt808.codec import (
    EXTRA_UNPARSED,
    AckResult,
    Authenticate,
    Batch,
    FrameError,
    GeneralAck,
    Header,
    Location,
    Message,
    MessageId,
    Reassembler,
    Register,
    RegisterReply,
    RegisterResult,
    RetransmitRequest,
    Splitter,
    Unknown,
    check_code,
    decode_body,
    decode_frame,
    encode,
    encode_body,
    encode_frame,
    escape,
    message_id,
    phone_bcd,
    refusal_header,
    unescape,
)


def read(hex_frame: str) -> tuple[Header, Message]:
    """One wire frame (hex, spaces allowed) -> header and message, through the splitter as the server reads it."""
    contents = Splitter().feed(bytes.fromhex(hex_frame.replace(" ", "")))
    assert len(contents) == 1
    content = contents[0]
    assert isinstance(content, bytes), content
    header, body = decode_frame(content)
    return header, decode_body(header, body)


def beijing(year: int, month: int, day: int, hour: int, minute: int, second: int) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC) - timedelta(hours=8)


# --- public sample frames ------------------------------------------------------------------------------------------


def test_2013_location_with_escapes_smallchi() -> None:
    # SMALLCHI src/JT808.Protocol.Test/MessageBody/JT808_0x0200Test.cs, Demo1/Demo2: 7D 02 and 7D 01 inside.
    frame = (
        "7E02000026123456789012007D02000000010000000200BA7F0E07E4F11C0028003C00001810151010100104000000640202007D01137E"
    )
    header, location = read(frame)
    assert header == Header(MessageId.LOCATION, "123456789012", 126)
    assert isinstance(location, Location)
    assert (location.alarm, location.status) == (1, 2)
    assert (location.lat, location.lon) == (12.222222, 132.444444)
    assert (location.altitude_m, location.speed_kmh, location.course) == (40, 6.0, 0)  # speed 60 in 0.1 km/h
    assert location.fixed_at == beijing(2018, 10, 15, 10, 10, 10)
    assert location.mileage_km == 10.0  # mileage 100 in 0.1 km
    assert location.extras[0x02] == (125).to_bytes(2, "big")  # fuel 125
    assert location.positioned
    assert not location.acc
    # and the encoder writes back the very same bytes, escapes included
    assert encode(location, phone="123456789012", serial=126).hex().upper() == frame


def test_2013_location_traccar() -> None:
    # TRACCAR Jt808ProtocolDecoderTest.java, the 0x0200 of terminal 013833501744 (verifyPosition).
    header, location = read(
        "7E0200002A013833501744001900000000000000C201597FA806CC01580080000000081508180721210104000002F5020200000302"
        "00009F7E"
    )
    assert header.phone == "013833501744"
    assert header.serial == 0x19
    assert header.version is None
    assert isinstance(location, Location)
    assert (location.lat, location.lon) == (22.6426, 114.032984)
    assert location.fixed_at == beijing(2015, 8, 18, 7, 21, 21)
    assert location.mileage_km == 75.7
    assert set(location.extras) == {0x01, 0x02, 0x03}


def test_2019_location_with_escape_smallchi() -> None:
    # SMALLCHI src/JT808.Protocol.Extensions/JT808.Protocol.Extensions.JT1078.Test/JT808_0x0200Test.cs, Test_0x15_4.
    header, location = read(
        "7e020040420100000000013419905507021200040000001410010213679206c4a97d01001300000002220720103957010400000e3e02"
        "0200000302025825040000001030014531010814040000000115040000000c797e"
    )
    assert header == Header(MessageId.LOCATION, "00000000013419905507", 0x0212, version=1)
    assert isinstance(location, Location)
    assert (location.lat, location.lon) == (34.82613, 113.551741)
    assert location.fixed_at == beijing(2022, 7, 20, 10, 39, 57)
    assert location.mileage_km == 364.6  # 0x0E3E


def test_2019_batch_traccar() -> None:
    # TRACCAR Jt808ProtocolDecoderTest.java: a 2019 0x0704; Traccar expects 14 satellites (extra 0x31).
    header, batch = read(
        "7e0704402d0100000866496077582164881d0001000028000000000000000701a00192091f2a4700160000000226050916422701040000"
        "258230010031010e507e"
    )
    assert header.version == 1
    assert header.phone == "00000866496077582164"
    assert isinstance(batch, Batch)
    assert len(batch.locations) == 1
    assert batch.locations[0].extras[0x31] == bytes([14])


def test_2013_blind_area_batch_traccar() -> None:
    # TRACCAR Jt808ProtocolDecoderTest.java: the 0x0704 of terminal 013567777777 (verifyPositions): 8, type 1.
    header, batch = read(
        "7E0704014301356777777707F5000801002600000000000000030159741206CBFD5001720000000116052709062401040000001D030200"
        "00002600000000000000030159746606CBFD50016B0000000116052709065301040000001D0302000000260000000000000003015975"
        "E406CBFE58013F0000000116052709072701040000001D0302000000260000000000000003015976DE06CBFF10012E00000001160527"
        "09075601040000001D0302000000260000000000000003015976BC06CBFED0012D0000000116052709083001040000001D0302000000"
        "260000000000000003015976FE06CBFEC001080000000116052709090001040000001D03020000002600000000000000030159"
        "76FE06CBFE7800FC0000000116052709093301040000001D0302000000260000000000000003015977A606CBFF300108000000011605"
        "2709100201040000001D030200001F7E"
    )
    assert header.msg_id == MessageId.BATCH
    assert isinstance(batch, Batch)
    assert batch.kind == 1
    assert len(batch.locations) == 8
    assert [loc.fixed_at for loc in batch.locations] == sorted(loc.fixed_at for loc in batch.locations)


def test_2013_batch_smallchi() -> None:
    # SMALLCHI src/JT808.Protocol.Test/MessageBody/JT808_0x0704Test.cs, Test2: the values it asserts.
    header, batch = read(
        "7E 07 04 00 53 11 22 33 44 55 66 22 B8 00 02 00 00 26 00 00 00 01 00 00 00 02 00 BA 7F 0E 07 E4 F1 1C 00 28"
        "00 3C 00 00 18 07 15 10 10 10 01 04 00 00 00 64 02 02 00 37 00 26 00 00 00 02 00 00 00 01 00 CB 73 55 07 E6"
        "A3 23 00 29 00 36 00 78 18 07 15 10 10 30 01 04 00 00 00 60 02 02 00 42 D4 7E"
    )
    assert (header.serial, header.phone) == (8888, "112233445566")
    assert isinstance(batch, Batch)
    assert batch.kind == 0
    first, second = batch.locations
    assert (first.alarm, first.status, first.lat, first.lon, first.speed_kmh, first.course) == (
        1,
        2,
        12.222222,
        132.444444,
        6.0,
        0,
    )
    assert first.fixed_at == beijing(2018, 7, 15, 10, 10, 10)
    assert first.mileage_km == 10.0
    assert (second.alarm, second.status, second.lat, second.lon, second.speed_kmh, second.course) == (
        2,
        1,
        13.333333,
        132.555555,
        5.4,
        120,
    )
    assert second.fixed_at == beijing(2018, 7, 15, 10, 10, 30)
    assert second.mileage_km == 9.6


def test_2013_register_traccar() -> None:
    # TRACCAR Jt808ProtocolDecoderTest.java: the 0x0100 of terminal 013511221122 (GBK plate).
    header, register = read(
        "7E0100002D013511221122000500000000373031303748422D52303347424400000000000000000000003233363631303402CBD542413638"
        "3630387E"
    )
    assert header.serial == 5
    assert register == Register(0, 0, "70107", "HB-R03GBD", "2366104", 2, "苏BA6860")


def test_2019_register_smallchi() -> None:
    # SMALLCHI src/JT808.Protocol.Test/MessageBody/JT808_0x0100Test.cs, Test2019_2: NUL-padded 2019 widths.
    frame = (
        "7E010040540100000000000123456789000A002800323132333400000000000000736D616C6C63686931323300000000000000000000000000"
        "00000000000043484931323300000000000000000000000000000000000000000000000001D4C1413132333435B27E"
    )
    header, register = read(frame)
    assert header == Header(MessageId.REGISTER, "00000000000123456789", 10, version=1)
    assert register == Register(40, 50, "1234", "smallchi123", "CHI123", 1, "粤A12345")
    assert encode(register, phone="123456789", serial=10, version=1).hex().upper() == frame


def test_2019_register_traccar() -> None:
    # TRACCAR Jt808ProtocolDecoderTest.java: a 2019 0x0100 (verifyNull: Traccar only answers it).
    header, register = read(
        "7e0100405c010000086649607758216452180000000000000000000000000000004d443330300000000000000000000000000000000000"
        "00000000000000003836363439363037373538323136340000000000000000000000000000000400000000000000000000000000000000"
        "7a7e"
    )
    assert header.version == 1
    assert isinstance(register, Register)
    assert (register.model, register.device_no, register.plate_colour) == ("MD300", "866496077582164", 4)


def test_2013_authenticate() -> None:
    # TRACCAR Jt808ProtocolDecoderTest.java: 0x0102 of terminal 013511221122.
    assert read("7E0102000E013511221122000661757468656E7469636174696F6E3F7E")[1] == Authenticate("authentication")
    # SMALLCHI src/JT808.Protocol.Test/MessageBody/JT808_0x0102Test.cs, Test4: serial 12345, code 456121111.
    header, auth = read("7E 01 02 00 09 01 23 45 67 89 00 30 39 34 35 36 31 32 31 31 31 31 BE 7E")
    assert (header.serial, header.phone, auth) == (12345, "012345678900", Authenticate("456121111"))


def test_2019_authenticate_body_smallchi() -> None:
    # SMALLCHI src/JT808.Protocol.Test/MessageBody/JT808_0x0102Test.cs, Test2019_1/2: software version BYTE[20].
    body = bytes.fromhex("05343536313231323334353637383930616263646576322E302E300000000000000000000000000000")
    header = Header(MessageId.AUTHENTICATE, "0" * 20, 1, version=1)
    expected = Authenticate("45612", "1234567890abcde", "v2.0.0")
    assert decode_body(header, body) == expected
    assert encode_body(expected, version=1) == body
    # the length-prefixed variant of the software version is read too
    counted = body[: 1 + 5 + 15] + bytes([6]) + b"v2.0.0"
    assert decode_body(header, counted) == expected


def test_2013_terminal_setting_bit_14_smallchi() -> None:
    # SMALLCHI src/JT808.Protocol.Test/MessageBody/JT808_0x0200Test.cs, Test5_3: a 2013 terminal with bit 14 set
    # (SmallChi reads it with JTT2013Force); its length fits the 2013 header only.
    header, auth = read("7E0102400C01003000068109024A3130303330303030363831857E")
    assert header.version is None
    assert header.phone == "010030000681"
    assert auth == Authenticate("J10030000681")


def test_2019_frame_with_a_length_five_bytes_off_is_refused_in_its_2019_header() -> None:
    """Five bytes short of its declared length, a 2019 frame fits the 2013 header exactly and is read so; once it is
    refused (here its body: a location read five bytes askew), the answer goes to its 2019 header."""
    content = location_content(version=1, phone="13912340023")
    cut = content[:-6] + bytes([check_code(content[:-6])])
    header, body = decode_frame(cut)
    assert header.version is None  # the 2013 reading: the version byte and half the number taken for a phone
    with pytest.raises(FrameError) as caught:
        decode_body(header, body)
    assert refusal_header(cut, caught.value.header) == Header(MessageId.LOCATION, "00000000013912340023", 9, 1)
    stale = content[:-6] + content[-1:]  # cut in transit: the check code fails too
    with pytest.raises(FrameError, match="check code") as caught:
        decode_frame(stale)
    assert refusal_header(stale, caught.value.header) == Header(MessageId.LOCATION, "00000000013912340023", 9, 1)


def test_refusal_header_keeps_the_header_read_otherwise() -> None:
    # SMALLCHI Test5_3 (above), its body garbled: no 2019 reading (its body is where the 2019 number would be, and is
    # not BCD), so a 2013 terminal setting bit 14 keeps its 2013 answer.
    content = Splitter().feed(bytes.fromhex("7E0102400C01003000068109024A3130303330303030363831857E"))[0]
    assert isinstance(content, bytes)
    header = decode_frame(content)[0]
    assert refusal_header(content, header) == header
    plain = location_content()  # 2013, bit 14 clear
    assert refusal_header(plain, decode_frame(plain)[0]) == Header(MessageId.LOCATION, "013800138000", 9)
    wide = location_content(version=1)  # read as 2019 already
    assert refusal_header(wide, decode_frame(wide)[0]) == decode_frame(wide)[0]
    assert refusal_header(bytes(5), None) is None


def test_retransmit_request_bytes_smallchi_and_go_jt808() -> None:
    # SMALLCHI JT808_0x8003Test.cs Test1/Test2 (2013 body): serial 1234, parts 0x0102 and 0x0203, count a BYTE.
    request = RetransmitRequest(1234, (0x0102, 0x0203))
    assert encode_body(request).hex().upper() == "04D20201020203"
    assert decode_body(Header(MessageId.RETRANSMIT_REQUEST, "0", 1), bytes.fromhex("04D20201020203")) == request
    # GOJT808: a whole 2013 frame.
    frame = "7e800300150123456789017fff1099090001000200030004000500060007000800091f7e"
    nine = RetransmitRequest(4249, tuple(range(1, 10)))
    assert encode(nine, phone="012345678901", serial=0x7FFF).hex() == frame
    assert read(frame)[1] == nine
    # 2019: the count is a WORD (JT/T 808-2019 table 6; SmallChi, yezhihao and toggery write it so).
    assert encode_body(request, version=1).hex().upper() == "04D2000201020203"
    with pytest.raises(FrameError, match="names 513 parts in 3 bytes"):  # a 2013 body read as 2019
        decode_body(Header(MessageId.RETRANSMIT_REQUEST, "0", 1, version=1), bytes.fromhex("04D20201020203"))
    with pytest.raises(ValueError, match="256 parts"):
        encode_body(RetransmitRequest(1, tuple(range(1, 257))))


def test_heartbeat_traccar() -> None:
    # TRACCAR Jt808ProtocolDecoderTest.java: the last frame, a 0x0002.
    header, message = read("7e0002000004304832546500b7ca7e")
    assert (header.msg_id, message) == (MessageId.HEARTBEAT, None)


def test_platform_answers_match_smallchi_bytes() -> None:
    # SMALLCHI src/JT808.Protocol.Test/MessageBody/JT808_0x8100Test.cs and JT808_0x8001Test.cs (Test1 of each).
    ok = RegisterReply(100, RegisterResult.OK, "123456")
    assert (
        encode(ok, phone="12345678900", serial=10).hex().upper() == "7E81000009012345678900000A006400313233343536687E"
    )
    refused = RegisterReply(100, RegisterResult.NO_TERMINAL)
    assert encode(refused, phone="12345678900", serial=10).hex().upper() == "7E81000003012345678900000A006404617E"
    ack = GeneralAck(100, MessageId.LOCATION, AckResult.OK)
    assert encode(ack, phone="12345678900", serial=10).hex().upper() == "7E80010005012345678900000A0064020000617E"
    assert read("7E 81 00 00 03 01 23 45 67 89 00 00 0A 00 64 04 61 7E")[1] == refused


def test_traccar_frame_with_short_body_and_bad_check_is_refused() -> None:
    # TRACCAR Jt808ProtocolDecoderTest.java, the 0x0200 of terminal 013511221122 (serial 7): it declares a 50-byte
    # body, carries 40, and fails its check code; Traccar decodes it. Our policy refuses it (codec docstring), with
    # the header, so the server can answer "message error" to serial 7.
    content = Splitter().feed(
        bytes.fromhex(
            "7E02000032013511221122000700000000000C000301578CC006CA3A5C00470000000014072317201501040000000030011631010BD07E"
        )
    )[0]
    assert isinstance(content, bytes)
    with pytest.raises(FrameError) as caught:
        decode_frame(content)
    assert caught.value.header == Header(MessageId.LOCATION, "013511221122", 7)
    # with a correct check code the length alone still refuses it
    fixed = content[:-1] + bytes([check_code(content[:-1])])
    with pytest.raises(FrameError, match="body length 50 != 40"):
        decode_frame(fixed)


def test_unreadable_extras_tail_is_kept_raw_traccar() -> None:
    # TRACCAR Jt808ProtocolDecoderTest.java, terminal 202000129707: the bytes after the time are not id/length/value
    # items; Traccar still takes the position, and so do we, with the tail kept raw.
    frame = (
        "7e0200002e202000129707001c0000000000001c0601a2f0a8091f0bf00000000000ed201103031733000000000000000000780000"
        "000018000000267e"
    )
    header, location = read(frame)
    assert isinstance(location, Location)
    assert (location.lat, location.lon) == (-27.455656, 153.029616)
    assert location.extras[EXTRA_UNPARSED].endswith(bytes.fromhex("18000000"))
    assert encode(location, phone=header.phone, serial=header.serial).hex() == frame


# --- framing -------------------------------------------------------------------------------------------------------


@given(st.binary(max_size=300))
def test_escape_round_trip(data: bytes) -> None:
    escaped = escape(data)
    assert 0x7E not in escaped
    assert unescape(escaped) == data


@pytest.mark.parametrize("bad", [b"\x01\x7d", b"\x7d\x03", b"\x7d\x7d\x01"])
def test_invalid_escape_is_a_frame_error(bad: bytes) -> None:
    with pytest.raises(FrameError, match="escape"):
        unescape(bad)
    assert [type(x) for x in Splitter().feed(b"\x7e" + bad + b"\x7e")] == [FrameError]


@given(st.binary(max_size=200))
def test_check_code_is_the_xor_of_every_byte(data: bytes) -> None:
    expected = 0
    for byte in data:
        expected ^= byte
    assert check_code(data) == expected


phones_2013 = st.text("0123456789", min_size=1, max_size=12)
phones_2019 = st.text("0123456789", min_size=1, max_size=20)
serials = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFFFFFF)


@st.composite
def locations(draw: st.DrawFn, max_extras: int = 4) -> Location:
    south, west = draw(st.booleans()), draw(st.booleans())
    lat = draw(st.integers(0, 90_000_000)) / 1e6
    lon = draw(st.integers(0, 180_000_000)) / 1e6
    status = draw(u32) & ~0xC | (4 if south else 0) | (8 if west else 0)
    when = draw(st.datetimes(datetime(2000, 1, 1, 8), datetime(2099, 12, 31, 8), timezones=st.just(UTC)))
    extras = draw(
        st.dictionaries(st.integers(0, 255), st.binary(max_size=12), max_size=max_extras),
    )
    return Location(
        alarm=draw(u32),
        status=status,
        lat=-lat if south else lat,
        lon=-lon if west else lon,
        altitude_m=draw(st.integers(0, 0xFFFF)),
        speed_kmh=draw(st.integers(0, 0xFFFF)) / 10,
        course=draw(st.integers(0, 359)),
        fixed_at=when.replace(microsecond=0),
        extras=extras,
    )


def gbk_text(max_bytes: int, min_size: int = 0) -> st.SearchStrategy[str]:
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZabcxyz0123456789-_.粤京沪苏浙鲁川鄂湘赣黑"
    return st.text(alphabet, min_size=min_size, max_size=max_bytes).filter(lambda s: len(s.encode("gbk")) <= max_bytes)


def registers(version: int | None) -> st.SearchStrategy[Register]:
    maker, model, device = (5, 20, 7) if version is None else (11, 30, 30)
    return st.builds(
        Register,
        st.integers(0, 0xFFFF),
        st.integers(0, 0xFFFF),
        gbk_text(maker),
        gbk_text(model),
        gbk_text(device),
        st.integers(0, 255),
        gbk_text(12),
    )


def authenticates(version: int | None) -> st.SearchStrategy[Authenticate]:
    if version is None:
        return st.builds(Authenticate, gbk_text(40))
    return st.builds(Authenticate, gbk_text(40), st.text("0123456789", max_size=15), gbk_text(20))


KNOWN = {int(m) for m in MessageId}


def messages(version: int | None) -> st.SearchStrategy[tuple[Message, int | None]]:
    """(message, msg_id to pass: only for None bodies and terminal answers)."""
    register_reply = st.one_of(
        st.builds(RegisterReply, serials, st.just(0), gbk_text(30)),
        st.builds(RegisterReply, serials, st.integers(1, 4)),
    )
    return st.one_of(
        st.tuples(registers(version), st.none()),
        st.tuples(register_reply, st.none()),
        st.tuples(authenticates(version), st.none()),
        st.tuples(st.builds(GeneralAck, serials, serials, st.integers(0, 4)), st.sampled_from([None, 0x0001])),
        st.tuples(locations(), st.none()),
        st.tuples(st.builds(Batch, st.integers(0, 1), st.lists(locations(2), max_size=5).map(tuple)), st.none()),
        st.tuples(st.builds(RetransmitRequest, serials, st.lists(st.integers(1, 0xFFFF), max_size=40).map(tuple)),
                  st.none()),
        st.tuples(
            st.builds(Unknown, st.integers(0, 0xFFFF).filter(lambda i: i not in KNOWN), st.binary(max_size=200)),
            st.none(),
        ),
        st.tuples(st.none(), st.sampled_from([int(MessageId.HEARTBEAT), int(MessageId.LOGOUT)])),
    )


@settings(max_examples=200)
@given(st.data(), st.sampled_from([None, 1]), serials)
def test_every_message_round_trips_through_a_frame(data: st.DataObject, version: int | None, serial: int) -> None:
    phone = data.draw(phones_2013 if version is None else phones_2019)
    message, msg_id = data.draw(messages(version))
    frame = encode(message, phone=phone, serial=serial, version=version, msg_id=msg_id)
    assert frame[0] == frame[-1] == 0x7E
    assert 0x7E not in frame[1:-1]
    (content,) = Splitter().feed(frame)
    assert isinstance(content, bytes)
    header, body = decode_frame(content)
    expected_id = message_id(message) if msg_id is None else msg_id
    assert header == Header(expected_id, phone_bcd(phone, version), serial, version)
    assert decode_body(header, body) == message


@given(locations(), phones_2013, serials, st.integers(0, 7))
def test_encrypted_flag_is_read(location: Location, phone: str, serial: int, encrypted: int) -> None:
    header = Header(MessageId.LOCATION, phone_bcd(phone, None), serial, encrypted=encrypted)
    (content,) = Splitter().feed(encode_frame(header, encode_body(location)))
    assert isinstance(content, bytes)
    assert decode_frame(content)[0].encrypted == encrypted


def stream_of(data: st.DataObject) -> tuple[bytes, list[bytes]]:
    frames = data.draw(
        st.lists(
            st.builds(
                lambda loc, phone, serial: encode(loc, phone=phone, serial=serial),
                locations(3),
                phones_2013,
                serials,
            ),
            min_size=1,
            max_size=6,
        )
    )
    contents = [unescape(frame[1:-1]) for frame in frames]
    return b"".join(frames), contents


@settings(max_examples=100)
@given(st.data())
def test_frames_split_and_merged_across_reads(data: st.DataObject) -> None:
    stream, contents = stream_of(data)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=12)))
    splitter = Splitter()
    got: list[bytes | FrameError] = []
    for start, end in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        got += splitter.feed(stream[start:end])
    assert got == contents
    assert splitter.buffered == 0


@settings(max_examples=100)
@given(st.data(), st.binary(min_size=1, max_size=6000))
def test_garbage_between_frames_loses_no_frame(data: st.DataObject, garbage: bytes) -> None:
    stream, contents = stream_of(data)
    first = encode(Unknown(0x0F00, b"x"), phone="1", serial=1)
    got = Splitter().feed(first + garbage + stream)
    frames = [item for item in got if isinstance(item, bytes)]
    # every valid frame after the garbage comes out, in order, as the last frames
    assert frames[-len(contents) :] == contents
    assert unescape(first[1:-1]) in frames


@pytest.mark.parametrize("chunk", [1 << 20, 1 << 16, 1500])
def test_a_megabyte_without_a_flag_is_discarded_once(chunk: int) -> None:
    splitter = Splitter()
    junk = bytes(range(0x7F, 0xFF)) * ((1 << 20) // 0x80)
    got: list[bytes | FrameError] = []
    for start in range(0, len(junk), chunk):
        got += splitter.feed(junk[start : start + chunk])
        assert splitter.buffered <= splitter.max_frame
    assert len(got) == 1
    assert isinstance(got[0], FrameError)
    frame = encode(None, phone="13800138000", serial=3, msg_id=MessageId.HEARTBEAT)
    after = splitter.feed(frame + frame)
    assert after == [unescape(frame[1:-1])] * 2  # the flag ends the discarded run; the next frames are whole


def location_content(serial: int = 9, version: int | None = None, phone: str = "13800138000") -> bytes:
    location = Location(0, 2, 30.0, 120.0, 10, 50.0, 90, datetime(2024, 5, 1, 1, 2, 3, tzinfo=UTC), {})
    (content,) = Splitter().feed(encode(location, phone=phone, serial=serial, version=version))
    assert isinstance(content, bytes)
    return content


def test_bad_check_code_keeps_the_header() -> None:
    content = location_content()
    with pytest.raises(FrameError, match="check code") as caught:
        decode_frame(content[:-1] + bytes([content[-1] ^ 0x55]))
    assert caught.value.header == Header(MessageId.LOCATION, "013800138000", 9)


def test_truncated_and_wrong_length_bodies_keep_the_header() -> None:
    content = location_content()
    for wrong in (content[:-3], content[:-1] + b"\x00\x00"):  # body cut short / longer than declared
        resealed = wrong[:-1] + bytes([check_code(wrong[:-1])])
        with pytest.raises(FrameError, match="body length") as caught:
            decode_frame(resealed)
        assert caught.value.header is not None
        assert caught.value.header.serial == 9


@pytest.mark.parametrize("content", [b"", b"\x02\x00\x00", bytes(12)])
def test_too_short_for_a_header(content: bytes) -> None:
    with pytest.raises(FrameError) as caught:
        decode_frame(content)
    assert caught.value.header is None


def test_non_bcd_phone_is_refused() -> None:
    content = bytearray(location_content())
    content[4] = 0xAB
    content[-1] = check_code(bytes(content[:-1]))
    with pytest.raises(FrameError, match="not BCD"):
        decode_frame(bytes(content))


def test_malformed_bodies_raise_with_the_header() -> None:
    header = Header(MessageId.LOCATION, "013800138000", 4)
    for body in (b"", bytes(27)):
        with pytest.raises(FrameError) as caught:
            decode_body(header, body)
        assert caught.value.header == header
    bad_time = bytes(22) + bytes.fromhex("24130199ffff")
    with pytest.raises(FrameError, match="time"):
        decode_body(header, bad_time)
    with pytest.raises(FrameError, match="shorter than 28"):
        decode_body(Header(MessageId.BATCH, "1", 1), bytes.fromhex("000300") + bytes(5))


def test_body_over_the_attribute_limit_is_refused_on_encode() -> None:
    with pytest.raises(ValueError, match="1023"):
        encode(Unknown(0x0F00, bytes(1024)), phone="1", serial=1)


def test_phone_bcd() -> None:
    assert phone_bcd("13800138000", None) == "013800138000"
    assert phone_bcd("13800138000", 1) == "00000000013800138000"
    for bad in ("", "1380013800x", "1" * 13):
        with pytest.raises(ValueError, match="phone"):
            phone_bcd(bad, None)


def test_times_are_beijing_time() -> None:
    location = Location(0, 0, 0.0, 0.0, 0, 0.0, 0, datetime(2024, 12, 31, 16, 30, tzinfo=UTC), {})
    body = encode_body(location)
    assert body[22:28] == bytes.fromhex("250101003000")  # 00:30 on New Year's Day in Beijing


# --- sub-packages --------------------------------------------------------------------------------------------------


@given(st.binary(min_size=1, max_size=3000), st.integers(1, 20), st.randoms(use_true_random=False))
def test_sub_packages_reassemble_in_any_order(body: bytes, total: int, random: Random) -> None:
    size = -(-len(body) // total)
    parts = [body[i * size : (i + 1) * size] for i in range(total)]
    order = list(range(total))
    random.shuffle(order)
    reassembler = Reassembler()
    results = []
    for i in order:
        header = Header(0x0801, "013800138000", 100 + i, packet=(total, i + 1))
        results.append(reassembler.feed(header, parts[i], now=5.0))
    assert results[:-1] == [None] * (total - 1)
    assert results[-1] == (Header(0x0801, "013800138000", 100), body)
    assert reassembler.pending == 0


@given(st.lists(st.integers(1, 4), min_size=1, max_size=5), st.randoms(use_true_random=False), st.data())
def test_messages_of_one_kind_in_flight_together_are_never_spliced(
    totals: list[int], random: Random, data: st.DataObject
) -> None:
    """Several 0x0704 sub-packaged alike, their parts numbered on from one serial counter (the standard's way),
    arriving interleaved with some parts lost: each message whose parts all came is whole with its own body, and
    nothing else comes out (the parts were once grouped by id and size alone, splicing a lost part's message with
    the next one)."""
    serial = 65_530  # across the counter's wrap too
    parts: list[tuple[Header, bytes, int]] = []
    for number, total in enumerate(totals):
        for index in range(1, total + 1):
            parts.append((Header(0x0704, "013800138000", serial & 0xFFFF, packet=(total, index)),
                          bytes([number, index]), number))
            serial += 1
    lost = data.draw(st.sets(st.integers(0, len(parts) - 1)))
    arriving = [part for i, part in enumerate(parts) if i not in lost]
    random.shuffle(arriving)
    reassembler = Reassembler()
    out = [whole for header, body, _ in arriving if (whole := reassembler.feed(header, body, now=1.0)) is not None]
    complete = [n for n in range(len(totals)) if not any(i in lost for i, p in enumerate(parts) if p[2] == n)]
    assert sorted(body for _, body in out) == sorted(
        b"".join(bytes([n, i]) for i in range(1, totals[n] + 1)) for n in complete)
    firsts = {n: h.serial for h, _, n in parts if h.packet is not None and h.packet[1] == 1}
    assert sorted(header.serial for header, _ in out) == sorted(firsts[n] for n in complete)


def test_a_terminal_numbering_every_part_alike_is_understood() -> None:
    reassembler = Reassembler()
    assert reassembler.feed(Header(0x0704, "1", 7, packet=(3, 2)), b"b", now=0) is None
    assert reassembler.feed(Header(0x0704, "1", 7, packet=(3, 3)), b"c", now=0) is None
    assert reassembler.feed(Header(0x0704, "1", 7, packet=(3, 1)), b"a", now=0) == (Header(0x0704, "1", 7), b"abc")
    assert reassembler.pending == 0


def test_sub_packages_expire_and_stay_bounded() -> None:
    reassembler = Reassembler(ttl=60, max_parts=8)
    assert reassembler.feed(Header(0x0801, "1", 1, packet=(3, 1)), b"a", now=0) is None
    reassembler.expire(now=61)
    assert reassembler.pending == 0
    for n in range(20):  # a terminal that never finishes its messages
        reassembler.feed(Header(0x0801, "1", n, packet=(5 + n % 3, 1 + n % 2)), b"x" * 100, now=float(n))
        assert reassembler.pending <= 8
    with pytest.raises(FrameError, match="index"):
        reassembler.feed(Header(0x0801, "1", 1, packet=(2, 3)), b"", now=0)
    whole = Header(0x0200, "1", 1)
    assert reassembler.feed(whole, b"body", now=0) == (whole, b"body")


def _parts(total: int, serial: int, lost: set[int]) -> list[Header]:
    return [Header(0x0704, "013800138000", serial + i - 1, packet=(total, i)) for i in range(1, total + 1)
            if i not in lost]


def test_a_gap_before_the_last_part_is_asked_for_at_once_then_after_pauses_a_bounded_number_of_times() -> None:
    reassembler = Reassembler(ttl=60, resend_after=10, max_requests=3)
    for header in _parts(5, 100, {2, 4})[:-1]:
        assert reassembler.feed(header, b"x", now=1.0) is None
    assert reassembler.requests(now=1.0) == []  # the terminal may still be sending
    assert reassembler.next_due() == 11.0
    last = _parts(5, 100, set())[-1]
    assert reassembler.feed(last, b"x", now=2.0) is None
    assert reassembler.next_due() == 2.0  # the last part came after a gap: ask now
    ((header, request),) = reassembler.requests(now=2.0)
    assert request == RetransmitRequest(100, (2, 4))
    assert (header.phone, header.version) == ("013800138000", None)
    assert reassembler.requests(now=11.9) == []
    assert reassembler.next_due() == 12.0
    assert reassembler.feed(_parts(5, 100, set())[1], b"x", now=5.0) is None  # part 2 resent: the pause restarts
    assert reassembler.requests(now=12.0) == []
    assert [r for _, r in reassembler.requests(now=15.0)] == [RetransmitRequest(100, (4,))]
    assert [r for _, r in reassembler.requests(now=25.0)] == [RetransmitRequest(100, (4,))]
    assert reassembler.requests(now=59.0) == []  # three made: no more
    assert reassembler.next_due() is None
    reassembler.expire(now=61.5)
    assert reassembler.pending == 0


def test_a_lost_last_part_is_asked_for_after_a_pause() -> None:
    reassembler = Reassembler(resend_after=10)
    for header in _parts(3, 0xFFFF, {3}):  # serials 65535, 0: across the counter's wrap
        assert reassembler.feed(header, b"x", now=0.0) is None
    assert reassembler.requests(now=9.9) == []
    assert [r for _, r in reassembler.requests(now=10.0)] == [RetransmitRequest(0xFFFF, (3,))]
    whole = reassembler.feed(Header(0x0704, "013800138000", 1, packet=(3, 3)), b"y", now=12.0)
    assert whole == (Header(0x0704, "013800138000", 0xFFFF), b"xxy")
    assert reassembler.next_due() is None


def test_requests_name_the_serial_a_terminal_numbers_every_part_with() -> None:
    reassembler = Reassembler(resend_after=10)
    assert reassembler.feed(Header(0x0704, "1", 7, packet=(4, 2)), b"b", now=0) is None
    assert reassembler.feed(Header(0x0704, "1", 7, packet=(4, 4)), b"d", now=0) is None
    assert [r for _, r in reassembler.requests(now=0)] == [RetransmitRequest(7, (1, 3))]


def test_an_expired_message_is_not_asked_for() -> None:
    reassembler = Reassembler(ttl=5, resend_after=10)
    assert reassembler.feed(Header(0x0704, "1", 7, packet=(2, 1)), b"a", now=0) is None
    reassembler.expire(now=10)
    assert reassembler.requests(now=10) == []
    assert reassembler.next_due() is None
