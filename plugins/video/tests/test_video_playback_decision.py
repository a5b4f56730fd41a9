"""decide(): which files each kind of client plays directly, remuxed or transcoded; strict client profiles."""

from __future__ import annotations

import pytest

from revenge_video.playback import TRANSCODE_PROFILES, ClientProfile, Decision, ProfileError, container_names, decide
from revenge_video.probe import AudioStream, MediaInfo, VideoStream, probe
from revenge_video.testing import Track, make_video, video_codecs

BROWSER = ClientProfile(containers={"mp4", "webm"}, video_codecs={"h264", "vp9", "av1"},
                        audio_codecs={"aac", "opus", "mp3"})
TV = ClientProfile(containers={"mkv", "mp4"}, video_codecs={"h264", "hevc"}, audio_codecs={"aac", "ac3", "eac3"})
PHONE = ClientProfile(containers={"mp4"}, video_codecs={"h264"}, audio_codecs={"aac"}, max_width=854,
                      max_height=480, max_bitrate=2_000_000)
SMALL_SCREEN = ClientProfile(containers={"mp4", "webm"}, video_codecs={"h264", "vp9"}, audio_codecs={"aac"},
                             max_width=1280, max_height=720)
CLIENTS = {"browser": BROWSER, "tv": TV, "phone": PHONE}

FILES = {  # name: make_video arguments
    "h264.mp4": {},
    "h264.mkv": {},
    "hevc.mkv": {"codec": "hevc"},
    "vp9.webm": {},
    "mpeg4.avi": {},
    "ac3-51.mkv": {"audio_codec": "ac3", "channels": 6},
    "opus.mkv": {"audio_codec": "opus"},
    "two-tracks.mp4": {"audio": ("eng", Track("ger"))},
}


@pytest.fixture(scope="module")
def infos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, MediaInfo]:
    folder = tmp_path_factory.mktemp("decision")
    found = {}
    for name, arguments in FILES.items():
        if arguments.get("codec", "h264") not in video_codecs():
            continue
        found[name] = probe(make_video(folder / name, seconds=0.5, **arguments))
    return found


def big(width: int = 1920, height: int = 1080, bitrate: int = 6_000_000, codec: str = "h264") -> MediaInfo:
    """A large file described directly: the rules only read MediaInfo."""
    return MediaInfo(container="mov,mp4,m4a,3gp,3g2,mj2", duration_seconds=5400.0, size=bitrate * 5400 // 8,
                     bitrate=bitrate, video=[VideoStream(0, codec, "High", width, height, 23.976, default=True)],
                     audio=[AudioStream(1, "aac", 2, "stereo", 48000, 160_000, "eng", default=True)])


C_NS, V_NS, A_NS = "container_not_supported", "video_codec_not_supported", "audio_codec_not_supported"


@pytest.mark.parametrize(("name", "client", "method", "reasons", "video", "audio"), [
    ("h264.mp4", "browser", "direct_play", (), "copy", "copy"),
    ("h264.mp4", "tv", "direct_play", (), "copy", "copy"),
    ("h264.mp4", "phone", "direct_play", (), "copy", "copy"),
    ("h264.mkv", "browser", "remux", (C_NS,), "copy", "copy"),
    ("h264.mkv", "tv", "direct_play", (), "copy", "copy"),
    ("h264.mkv", "phone", "remux", (C_NS,), "copy", "copy"),
    ("hevc.mkv", "browser", "transcode", (C_NS, V_NS), "transcode", "transcode"),
    ("hevc.mkv", "tv", "direct_play", (), "copy", "copy"),
    ("hevc.mkv", "phone", "transcode", (C_NS, V_NS), "transcode", "transcode"),
    ("vp9.webm", "browser", "direct_play", (), "copy", "copy"),
    ("vp9.webm", "tv", "transcode", (V_NS, A_NS), "transcode", "transcode"),  # WebM is Matroska: container is fine
    ("vp9.webm", "phone", "transcode", (C_NS, V_NS, A_NS), "transcode", "transcode"),
    ("mpeg4.avi", "browser", "transcode", (C_NS, V_NS), "transcode", "transcode"),
    ("mpeg4.avi", "tv", "transcode", (C_NS, V_NS, A_NS), "transcode", "transcode"),
    ("mpeg4.avi", "phone", "transcode", (C_NS, V_NS, A_NS), "transcode", "transcode"),
    ("ac3-51.mkv", "browser", "remux", (C_NS, A_NS), "copy", "transcode"),
    ("ac3-51.mkv", "tv", "direct_play", (), "copy", "copy"),
    ("opus.mkv", "tv", "remux", (A_NS,), "copy", "transcode"),
    ("opus.mkv", "browser", "remux", (C_NS, "audio_codec_not_streamable"), "copy", "transcode"),
])
def test_decision_table(infos: dict[str, MediaInfo], name: str, client: str, method: str, reasons: tuple,
                        video: str, audio: str) -> None:
    if name not in infos:
        pytest.skip(f"this PyAV cannot encode {name}")
    info = infos[name]
    decision = decide(info, CLIENTS[client])
    assert (decision.method, decision.reasons, decision.video, decision.audio) == (method, reasons, video, audio)
    assert decision.video_index == info.video[0].index and decision.audio_index == info.audio[0].index
    assert (decision.width, decision.height) == (160, 90)  # small files are never scaled up
    assert decision.bitrate and decision.bitrate > 0
    if decision.video == "transcode":
        assert decision.profile == TRANSCODE_PROFILES["480p"]  # the smallest profile holding 160x90
        assert decision.codecs == "avc1.640028,mp4a.40.2"
    else:
        assert decision.profile is None
    assert Decision.from_json(decision.to_json()) == decision


def test_container_names(infos: dict[str, MediaInfo]) -> None:
    assert container_names(infos["vp9.webm"]) == {"mkv", "webm"}
    assert container_names(infos["h264.mkv"]) == {"mkv"}
    assert container_names(infos["opus.mkv"]) == {"mkv"}
    assert container_names(infos["h264.mp4"]) == {"mp4", "mov"}
    assert container_names(infos["mpeg4.avi"]) == {"avi"}


def test_big_file_on_weak_and_small_clients() -> None:
    assert decide(big(), BROWSER).method == "direct_play"
    phone = decide(big(), PHONE)
    assert (phone.method, phone.reasons) == ("transcode", ("resolution_too_high", "bitrate_too_high"))
    assert (phone.profile.name, phone.width, phone.height, phone.bitrate) == ("480p", 854, 480, 1_660_000)
    small = decide(big(), SMALL_SCREEN)
    assert (small.method, small.reasons) == ("transcode", ("resolution_too_high",))
    assert (small.profile.name, small.width, small.height) == ("720p", 1280, 720)
    cinema = decide(big(1920, 800), SMALL_SCREEN)  # scope: aspect kept, even sides
    assert (cinema.width, cinema.height) == (1280, 534)
    tv = decide(big(3840, 2160, 40_000_000, "hevc"), TV, max_bitrate=10_000_000)
    assert (tv.method, tv.reasons, tv.profile.name, tv.width, tv.height) == (
        "transcode", ("bitrate_too_high",), "1080p", 1920, 1080)
    assert tv.bitrate <= 10_000_000
    starved = decide(big(), BROWSER, max_bitrate=1_000_000)
    assert starved.profile.name == "480p" and starved.bitrate <= 1_000_000


def test_bitrate_cap_forces_transcode(infos: dict[str, MediaInfo]) -> None:
    info = infos["h264.mp4"]
    decision = decide(info, BROWSER, max_bitrate=info.bitrate // 2)
    assert (decision.method, decision.reasons) == ("transcode", ("bitrate_too_high",))


def test_channels(infos: dict[str, MediaInfo]) -> None:
    stereo_tv = ClientProfile(containers={"mkv"}, video_codecs={"h264"}, audio_codecs={"ac3", "aac"},
                              max_audio_channels=2)
    decision = decide(infos["ac3-51.mkv"], stereo_tv)
    assert (decision.method, decision.reasons, decision.audio) == ("remux", ("audio_channels_too_many",),
                                                                   "transcode")
    assert decision.codecs == "avc1.42E028,mp4a.40.2"


def test_other_audio_track_needs_hls(infos: dict[str, MediaInfo]) -> None:
    info = infos["two-tracks.mp4"]
    assert decide(info, BROWSER, audio_index=1).method == "direct_play"  # the default track
    decision = decide(info, BROWSER, audio_index=2)
    assert (decision.method, decision.reasons, decision.audio, decision.audio_index) == (
        "remux", ("audio_track_selected",), "copy", 2)
    with pytest.raises(ProfileError) as error:
        decide(info, BROWSER, audio_index=0)  # the video stream
    assert error.value.key == "audio_index" and "1, 2" in str(error.value)


def test_requested_profile(infos: dict[str, MediaInfo]) -> None:
    decision = decide(infos["h264.mp4"], BROWSER, profile="720p")
    assert (decision.method, decision.reasons, decision.profile.name) == ("transcode", ("profile_requested",), "720p")
    assert (decision.width, decision.height) == (160, 90)
    assert decide(big(), PHONE, profile="1080p").width == 854  # the client's limit still holds
    with pytest.raises(ProfileError) as error:
        decide(infos["h264.mp4"], BROWSER, profile="4k")
    assert error.value.key == "profile"


def test_client_without_hls(infos: dict[str, MediaInfo]) -> None:
    plain = ClientProfile(containers={"mp4"}, video_codecs={"h264"}, audio_codecs={"aac"}, hls=False)
    assert decide(infos["h264.mp4"], plain).method == "direct_play"
    with pytest.raises(ProfileError, match="neither directly nor over HLS") as error:
        decide(infos["h264.mkv"], plain)
    assert error.value.key == "profile"


def test_audio_only_and_video_only() -> None:
    song = MediaInfo(container="mov,mp4,m4a,3gp,3g2,mj2", duration_seconds=200.0, size=4_000_000,
                     audio=[AudioStream(0, "aac", 2, default=True)])
    decision = decide(song, BROWSER)
    assert (decision.method, decision.video, decision.audio, decision.width) == ("direct_play", None, "copy", 0)
    flac = MediaInfo(container="matroska,webm", duration_seconds=200.0, size=40_000_000,
                     audio=[AudioStream(0, "flac", 2, default=True)])
    decision = decide(flac, BROWSER)
    assert (decision.method, decision.video, decision.audio, decision.profile) == ("transcode", None, "transcode",
                                                                                   None)
    mp3 = MediaInfo(container="matroska,webm", duration_seconds=200.0, size=4_000_000,
                    audio=[AudioStream(0, "mp3", 2, default=True)])
    assert decide(mp3, BROWSER).method == "remux"
    silent = MediaInfo(container="matroska,webm", duration_seconds=10.0, size=1_000_000,
                       video=[VideoStream(0, "h264", width=640, height=360)])
    decision = decide(silent, BROWSER)
    assert (decision.method, decision.audio, decision.audio_index) == ("remux", None, None)


def test_client_profile_json_round_trip() -> None:
    data = {"containers": ["MP4", "webm", "ts"], "video_codecs": ["H264", "h265"], "audio_codecs": ["AAC"],
            "max_width": 1280, "max_height": 720, "max_bitrate": 4_000_000, "max_audio_channels": 2,
            "subtitle_formats": ["vtt", "webvtt"], "hls": True}
    profile = ClientProfile.from_json(data)
    assert profile.containers == {"mp4", "webm", "mpegts"} and profile.video_codecs == {"h264", "hevc"}
    assert profile.subtitle_formats == {"vtt"}
    assert ClientProfile.from_json(profile.to_json()) == profile
    minimal = ClientProfile.from_json({"containers": [], "video_codecs": [], "audio_codecs": []})
    assert minimal.max_width is None and minimal.hls is True and minimal.subtitle_formats == {"vtt"}


VALID = {"containers": ["mp4"], "video_codecs": ["h264"], "audio_codecs": ["aac"]}


@pytest.mark.parametrize(("data", "key", "message"), [
    ([], "profile", "JSON object"),
    ({**VALID, "evil": 1}, "evil", "unknown key"),
    ({"video_codecs": ["h264"], "audio_codecs": ["aac"]}, "containers", "missing"),
    ({**VALID, "containers": ["mp4", "concat:/etc/passwd"]}, "containers", "unknown name"),
    ({**VALID, "video_codecs": "h264"}, "video_codecs", "list"),
    ({**VALID, "audio_codecs": [7]}, "audio_codecs", "strings"),
    ({**VALID, "audio_codecs": ["aac"] * 65}, "audio_codecs", "at most"),
    ({**VALID, "subtitle_formats": ["pgs"]}, "subtitle_formats", "unknown name"),
    ({**VALID, "max_width": 0}, "max_width", "between"),
    ({**VALID, "max_height": 100_000}, "max_height", "between"),
    ({**VALID, "max_bitrate": 1000}, "max_bitrate", "between"),
    ({**VALID, "max_bitrate": 2.5e6}, "max_bitrate", "whole number"),
    ({**VALID, "max_audio_channels": True}, "max_audio_channels", "whole number"),
    ({**VALID, "max_audio_channels": 17}, "max_audio_channels", "between"),
    ({**VALID, "hls": "yes"}, "hls", "true or false"),
])
def test_bad_client_profiles(data: object, key: str, message: str) -> None:
    with pytest.raises(ProfileError, match=message) as error:
        ClientProfile.from_json(data)
    assert error.value.key == key
    assert isinstance(error.value, ValueError)


@pytest.mark.parametrize(("change", "key"), [
    ({"method": "stream"}, "method"), ({"video": "burn"}, "video"), ({"profile": "8k"}, "profile"),
    ({"width": -2}, "width"), ({"reasons": "x"}, "reasons"), ({"bitrate": "fast"}, "bitrate")])
def test_bad_stored_decisions(change: dict, key: str) -> None:
    data = {**decide(big(), PHONE).to_json(), **change}
    with pytest.raises(ProfileError) as error:
        Decision.from_json(data)
    assert error.value.key == key
    incomplete = decide(big(), PHONE).to_json()
    del incomplete["method"]
    with pytest.raises(ProfileError, match="missing"):
        Decision.from_json(incomplete)
