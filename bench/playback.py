"""Playback: direct-play throughput against plain ``FileResponse``, time to the first HLS segment
(remux and transcode, from the start and after a seek), and how many concurrent direct streams
and transcodes one machine sustains.

The media is one real movie written with PyAV: 1280x720 h264 (x264 ultrafast, average bit rate
``--video-mbps``, a keyframe every 2 s) and AAC stereo in Matroska. Its pictures are fresh noise,
so no frame predicts the next and x264 spends the whole bit rate on every frame (the worst case
for a transcoder: expect real films to transcode faster). A ``--unique-seconds`` block is
encoded once and the file is made by copying its packets ``--loops`` times on a running
timeline (a remux, not a re-encode), so a 10-minute, ~315 MiB movie takes about 30 s to write.

The real server runs in its own process: ``create_app`` with the plugins localfs, movies and tv
(SQLite, no metadata provider, jobs left queued) served by ``web.AppRunner`` / ``web.TCPSite`` on
127.0.0.1, a movie library holding the file is scanned and an admin logs in over HTTP. The same
process serves the baseline on another port: a bare aiohttp app with one route answering
``web.FileResponse(path)``. Both answer only while the other is idle.

From the benchmark's own process (the client):

1. direct play: ``curl -o /dev/null`` downloads the whole file ``--runs`` times from the session's
   signed direct URL (TV profile: direct play) and from the baseline, alternately; then 64 MiB from
   the middle of the file (``Range``). Figures: MiB/s (median), time to first byte, and the
   server process's CPU seconds per GiB sent.
2. time to first segment: a new session each run, timed from ``POST /playback/sessions`` through
   the master playlist, the media playlist (planning: the keyframe scan for a remux) and all the
   bytes of segment 0, or of the middle segment (a seek). Remux: the browser profile (mkv not
   supported, h264/aac copied); transcode: ``"profile": "720p"``. The server is let go idle
   between runs (it prepares the next segment after each one).
3. concurrency: N sessions, N ``curl`` processes at once, each downloading the whole file (at most
   ``--stream-seconds``); a stream *sustains* playback when its rate is at least 1.5x the file's
   bit rate. Then K transcode sessions at once (``playback.max_transcodes`` set to the largest K),
   each fetching its segments one after the other, as a player that never pauses, for
   ``--transcode-seconds``; its speed is the media seconds it received over the wall time, and it
   sustains playback at 1.0x or more.

The clients share the machine with the server (curl processes included), as they would on a
loopback test; the file sits in the page cache after the first read, so the disk plays no part.

    .venv/bin/python bench/playback.py [--quick] [--runs 5] [--streams 1,4,16,64] [--transcodes 1,2,3,4]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

MiB = 2**20
WIDTH, HEIGHT, FPS = 1280, 720, 24
KEYFRAME_SECONDS = 2
SAMPLE_RATE = 48_000
AAC_FRAME = 1024
MOVIE = "Noise Harbour (2024)"
PASSWORD = "a long benchmark password"
TV = {"containers": ["mkv", "mp4"], "video_codecs": ["h264", "hevc"], "audio_codecs": ["aac", "ac3", "eac3"],
      "max_width": 3840, "max_height": 2160}
BROWSER = {"containers": ["mp4", "webm"], "video_codecs": ["h264", "vp9", "av1"],
           "audio_codecs": ["aac", "opus", "mp3"], "subtitle_formats": ["vtt"]}
SUSTAIN_FACTOR = 1.5


# --- the movie ------------------------------------------------------------------------------------


def _tone_chunk() -> bytes:
    """1024 packed stereo float samples of a 468.75 Hz sine (10 periods: every AAC frame is the same)."""
    import array

    mono = [0.2 * math.sin(2 * math.pi * 10 * n / AAC_FRAME) for n in range(AAC_FRAME)]
    return array.array("f", [value for value in mono for _channel in (0, 1)]).tobytes()


def encode_block(path: Path, seconds: int, video_bitrate: int, seed: int = 1) -> None:
    """``seconds`` of 720p noise (x264 ultrafast at ``video_bitrate`` on average) and an AAC tone."""
    import random

    import av

    frames = seconds * FPS
    gop = FPS * KEYFRAME_SECONDS
    rng = random.Random(seed)
    chroma = bytes([128]) * (WIDTH * HEIGHT // 4)
    tone = _tone_chunk()  # packed stereo: the same sample on both channels
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=FPS, options={
            "preset": "ultrafast", "x264-params": f"keyint={gop}:min-keyint={gop}:scenecut=0"})
        video.width, video.height, video.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        video.bit_rate = video_bitrate
        video.codec_context.gop_size = gop
        audio = container.add_stream("aac", rate=SAMPLE_RATE)
        audio.layout = "stereo"
        audio.bit_rate = 128_000
        audio.metadata["language"] = "eng"
        samples = 0
        for index in range(frames):
            while samples <= index * SAMPLE_RATE // FPS:
                sound = av.AudioFrame(format="flt", layout="stereo", samples=AAC_FRAME)
                sound.planes[0].update(tone)
                sound.sample_rate, sound.pts = SAMPLE_RATE, samples
                samples += AAC_FRAME
                for packet in audio.encode(sound):
                    container.mux(packet)
            picture = av.VideoFrame(WIDTH, HEIGHT, "yuv420p")
            picture.planes[0].update(rng.randbytes(picture.planes[0].buffer_size))
            picture.planes[1].update(chroma)
            picture.planes[2].update(chroma)
            picture.pts = index
            for packet in video.encode(picture):
                container.mux(packet)
        for stream in (video, audio):
            for packet in stream.encode():
                container.mux(packet)


def loop_block(block: Path, path: Path, loops: int, seconds: int) -> None:
    """Copy the block's packets ``loops`` times one after the other: a ``loops * seconds`` movie."""
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    last: dict[int, int] = {}
    with av.open(str(path), "w") as output:
        outputs: dict[int, Any] = {}
        for loop in range(loops):
            with av.open(str(block)) as source:
                if not outputs:
                    for stream in source.streams:
                        out = output.add_stream_from_template(stream)
                        if stream.metadata.get("language"):
                            out.metadata["language"] = stream.metadata["language"]
                        outputs[stream.index] = out
                for packet in source.demux():
                    if packet.dts is None or packet.pts is None:
                        continue
                    offset = round(loop * seconds / packet.time_base)
                    packet.pts += offset
                    packet.dts += offset
                    index = packet.stream.index
                    if packet.dts <= last.get(index, -(2**62)):
                        continue  # an AAC priming packet overlapping the previous copy's end
                    last[index] = packet.dts
                    packet.stream = outputs[index]
                    output.mux(packet)


def make_movie(root: Path, loops: int, seconds: int, video_bitrate: int) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    block = root / "block.mkv"
    encode_block(block, seconds, video_bitrate)
    path = root / "movies" / MOVIE / f"{MOVIE}.mkv"
    loop_block(block, path, loops, seconds)
    block.unlink()
    return path


# --- the server process ---------------------------------------------------------------------------


def serve(conn: Any, media: str, movie: str, data: str, max_transcodes: int) -> None:
    asyncio.run(_serve(conn, media, movie, data, max_transcodes))


async def _serve(conn: Any, media: str, movie: str, data: str, max_transcodes: int) -> None:
    import aiohttp
    from aiohttp import web

    import revenge_localfs.plugin as localfs_plugin
    import revenge_movies.plugin as movies_plugin
    import revenge_tv.plugin as tv_plugin
    from revenge_core.config import load_config
    from revenge_core.http.app import create_app
    from revenge_core.http.keys import SERVICES
    from revenge_core.library.models import LibraryItem
    from revenge_core.logs import setup_logging
    from tests.identity.conftest import make_user

    environ = {"REVENGE_DATA_DIR": data, "REVENGE_DATABASE_DRIVER": "sqlite", "REVENGE_LOGGING_LEVEL": "WARNING",
               "REVENGE_LOGGING_ACCESS_LOG": "false", "XDG_CONFIG_HOME": "/nonexistent-revenge-config"}
    config = load_config(path=None, environ=environ)
    config.plugins["localfs"] = {"roots": [media]}
    config.jobs.embedded_consumer = False
    config.playback.max_transcodes = max_transcodes
    config.auth.access_token_ttl = 6 * 3600.0  # outlives the run
    setup_logging(config.logging)
    app = create_app(config, plugins={"localfs": localfs_plugin, "movies": movies_plugin, "tv": tv_plugin})
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]

    async def plain(_request: web.Request) -> web.FileResponse:
        return web.FileResponse(movie)

    baseline = web.Application()
    baseline.router.add_get("/movie.mkv", plain)
    baseline_runner = web.AppRunner(baseline, access_log=None)
    await baseline_runner.setup()
    await web.TCPSite(baseline_runner, "127.0.0.1", 0).start()
    baseline_port = baseline_runner.addresses[0][1]
    try:
        services = app[SERVICES]
        library = await services.library.create({"name": "Movies", "content_type": "movie",
                                                 "paths": [str(Path(media) / "movies")]})
        scanned = await services.library.scan_now(library.id, "incremental")
        if scanned["status"] != "done":
            raise RuntimeError(f"the scan ended {scanned['status']}: {scanned.get('error')}")
        items = await services.library.run(lambda: list(LibraryItem.select().where(LibraryItem.item_type == "movie")))
        await make_user(app, "bench", PASSWORD, role="admin")
        async with aiohttp.ClientSession() as http, http.post(
                f"http://127.0.0.1:{port}/api/v1/auth/login", json={"username": "bench", "password": PASSWORD}) as r:
            if r.status != 200:
                raise RuntimeError(f"login failed: {r.status} {await r.text()}")
            token = (await r.json())["access_token"]
        conn.send({"port": port, "baseline_port": baseline_port, "token": token, "item_key": items[0].key})
        await asyncio.get_running_loop().run_in_executor(None, conn.recv)  # until the client is done
    except BaseException as exc:
        with contextlib.suppress(Exception):
            conn.send({"error": repr(exc)})
        raise
    finally:
        await baseline_runner.cleanup()
        await runner.cleanup()


# --- measuring ------------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def wait_idle(pid: int, limit: float = 60.0) -> float:
    """Wait until the server uses under 10 % of a core for half a second (segments it prepared ahead)."""
    started = time.perf_counter()
    while time.perf_counter() - started < limit:
        before = cpu_seconds(pid)
        await asyncio.sleep(0.5)
        if cpu_seconds(pid) - before < 0.05:
            break
    return time.perf_counter() - started


async def curl(url: str, *extra: str, max_time: float | None = None) -> dict[str, float]:
    """One download with curl to /dev/null: bytes, total and first-byte seconds, HTTP status."""
    args = ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code} %{size_download} %{time_total} %{time_starttransfer}",
            *extra]
    if max_time:
        args += ["--max-time", str(max_time)]
    process = await asyncio.create_subprocess_exec(*args, url, stdout=asyncio.subprocess.PIPE)
    out, _ = await process.communicate()
    status, size, total, first = out.decode().split()
    return {"status": int(status), "bytes": int(size), "seconds": float(total), "first_byte": float(first),
            "exit": process.returncode or 0}


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


class Client:
    def __init__(self, http: Any, base: str, token: str, item_key: str, pid: int):
        self.http, self.base, self.item_key, self.pid = http, base, item_key, pid
        self.headers = {"Authorization": f"Bearer {token}"}

    async def play(self, client: dict[str, Any], **extra: Any) -> dict[str, Any]:
        async with self.http.post(self.base + "/api/v1/playback/sessions", headers=self.headers,
                                  json={"item_key": self.item_key, "client": client, **extra}) as response:
            if response.status != 201:
                raise RuntimeError(f"creating a session: {response.status} {await response.text()}")
            return await response.json()

    async def stop(self, session: dict[str, Any]) -> None:
        async with self.http.delete(f"{self.base}/api/v1/playback/sessions/{session['id']}",
                                    headers=self.headers) as response:
            await response.read()

    async def get(self, url: str) -> bytes:
        """A signed URL, as a player would fetch it (no Authorization header)."""
        async with self.http.get(urljoin(self.base, url)) as response:
            body = await response.read()
            if response.status != 200:
                raise RuntimeError(f"{url}: {response.status} {body[:300]!r}")
            return body

    async def playlist(self, session: dict[str, Any]) -> tuple[list[tuple[float, str]], dict[str, float]]:
        """The segments ``(duration, absolute URL)`` of a session, and how long each playlist took."""
        timings = {}
        master_url = urljoin(self.base, session["urls"]["hls"])
        started = time.perf_counter()
        master = (await self.get(master_url)).decode()
        timings["master"] = time.perf_counter() - started
        media_url = urljoin(master_url, next(line for line in master.splitlines() if line and line[0] != "#"))
        started = time.perf_counter()
        lines = (await self.get(media_url)).decode().splitlines()
        timings["media"] = time.perf_counter() - started
        segments = [(float(line[8:].split(",")[0]), urljoin(media_url, lines[n + 1]))
                    for n, line in enumerate(lines) if line.startswith("#EXTINF:")]
        return segments, timings


# --- 1. direct play against FileResponse ----------------------------------------------------------


async def direct_throughput(client: Client, baseline: str, size: int, runs: int) -> dict[str, Any]:
    """Whole-file and mid-file Range downloads from both servers, alternating which goes first."""
    session = await client.play(TV)
    if session["method"] != "direct_play":
        raise RuntimeError(f"the TV profile should direct-play the movie, got {session['method']}")
    revenge = urljoin(client.base, session["urls"]["direct"])
    await curl(baseline)  # the page cache
    names = ("revenge", "baseline", "revenge range", "baseline range")
    results: dict[str, dict[str, list[float]]] = {name: {"rate": [], "cpu": [], "first": []} for name in names}
    half = min(64 * MiB, size // 4)  # the Range: 64 MiB from the middle (a quarter of a smaller file)
    middle = f"{size // 2 - half // 2}-{size // 2 + half // 2 - 1}"
    for run in range(runs):
        order = [("revenge", revenge), ("baseline", baseline)]
        for name, url in order if run % 2 == 0 else order[::-1]:
            for suffix, extra in (("", ()), (" range", ("-r", middle))):
                before = cpu_seconds(client.pid)
                got = await curl(url, *extra)
                used = cpu_seconds(client.pid) - before
                expected = half if extra else size
                if got["bytes"] != expected or got["status"] != (206 if extra else 200):
                    raise RuntimeError(f"{name}{suffix}: HTTP {got['status']}, {got['bytes']} bytes of {expected}")
                row = results[name + suffix]
                row["rate"].append(got["bytes"] / MiB / got["seconds"])
                row["cpu"].append(used / (got["bytes"] / 2**30))
                row["first"].append(got["first_byte"] * 1000)
    await client.stop(session)
    return results


# --- 2. time to the first segment -----------------------------------------------------------------


async def first_segment(client: Client, profile: dict[str, Any], extra: dict[str, Any], seek: bool,
                        method: str) -> dict[str, float]:
    started = time.perf_counter()
    session = await client.play(profile, **extra)
    created = time.perf_counter() - started
    if session["method"] != method:
        raise RuntimeError(f"expected {method}, the server chose {session['method']}: {session['reasons']}")
    segments, timings = await client.playlist(session)
    index = len(segments) // 2 if seek else 0
    before = time.perf_counter()
    data = await client.get(segments[index][1])
    segment = time.perf_counter() - before
    total = time.perf_counter() - started
    await client.stop(session)
    return {"create": created, **timings, "segment": segment, "total": total, "bytes": len(data),
            "index": index, "segments": len(segments), "seconds": segments[index][0]}


async def first_segments(client: Client, runs: int) -> dict[str, list[dict[str, float]]]:
    cases = {"remux, from the start": (BROWSER, {}, False, "remux"),
             "remux, seek to the middle": (BROWSER, {}, True, "remux"),
             "transcode 720p, from the start": (BROWSER, {"profile": "720p"}, False, "transcode"),
             "transcode 720p, seek to the middle": (BROWSER, {"profile": "720p"}, True, "transcode")}
    results: dict[str, list[dict[str, float]]] = {name: [] for name in cases}
    for _ in range(runs):
        for name, (profile, extra, seek, method) in cases.items():
            await wait_idle(client.pid)
            results[name].append(await first_segment(client, profile, extra, seek, method))
    return results


# --- 3. concurrency -------------------------------------------------------------------------------


async def direct_streams(client: Client, count: int, size: int, max_time: float) -> dict[str, Any]:
    sessions = await asyncio.gather(*(client.play(TV) for _ in range(count)))
    urls = [urljoin(client.base, s["urls"]["direct"]) for s in sessions]
    before = cpu_seconds(client.pid)
    started = time.perf_counter()
    got = await asyncio.gather(*(curl(url, max_time=max_time) for url in urls))
    wall = time.perf_counter() - started
    used = cpu_seconds(client.pid) - before
    await asyncio.gather(*(client.stop(s) for s in sessions))
    bad = [g for g in got if g["status"] != 200]
    if bad:
        raise RuntimeError(f"{len(bad)} of {count} streams failed: {bad[0]}")
    rates = [g["bytes"] / MiB / g["seconds"] for g in got]
    return {"count": count, "rates": rates, "aggregate": sum(g["bytes"] for g in got) / MiB / wall, "wall": wall,
            "complete": sum(g["bytes"] == size for g in got), "server_cpu": used / wall}


async def transcodes(client: Client, count: int, seconds: float) -> dict[str, Any]:
    await wait_idle(client.pid)
    sessions = await asyncio.gather(*(client.play(BROWSER, profile="720p") for _ in range(count)))
    playlists = await asyncio.gather(*(client.playlist(s) for s in sessions))
    before = cpu_seconds(client.pid)
    started = time.perf_counter()

    async def player(segments: list[tuple[float, str]]) -> dict[str, float]:
        media, fetched, elapsed = 0.0, 0, 0.0
        for duration, url in segments:
            if time.perf_counter() - started >= seconds:
                break
            await client.get(url)
            media += duration
            fetched += 1
            elapsed = time.perf_counter() - started
        return {"speed": media / elapsed if elapsed else 0.0, "segments": fetched, "media": media}

    players = await asyncio.gather(*(player(segments) for segments, _ in playlists))
    wall = time.perf_counter() - started
    used = cpu_seconds(client.pid) - before
    await asyncio.gather(*(client.stop(s) for s in sessions))
    return {"count": count, "players": players, "server_cpu": used / wall}


# --- the run --------------------------------------------------------------------------------------


def print_table(header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(c)) for c in column) for column in zip(header, *rows, strict=True)]

    def cells(row: list[str]) -> str:
        pairs = enumerate(zip(row, widths, strict=True))
        return "  ".join(f"{c:<{w}}" if n == 0 else f"{c:>{w}}" for n, (c, w) in pairs)

    line = cells(header)
    print("  " + line)
    print("  " + "-" * len(line))
    for row in rows:
        print("  " + cells(row))


async def measure(args: argparse.Namespace, info: dict[str, Any], movie: Path, pid: int) -> None:
    import aiohttp

    size = movie.stat().st_size
    bitrate = info["bitrate"]
    sustain = bitrate * SUSTAIN_FACTOR / 8 / MiB  # MiB/s
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=600)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
        client = Client(http, f"http://127.0.0.1:{info['port']}", info["token"], info["item_key"], pid)
        baseline = f"http://127.0.0.1:{info['baseline_port']}/movie.mkv"

        print(f"\n1. direct play over loopback, {args.runs} runs each, curl -o /dev/null "
              f"(median; server CPU s per GiB sent)")
        started = time.perf_counter()
        direct = await direct_throughput(client, baseline, size, args.runs)
        part = min(64 * MiB, size // 4) // MiB
        rows = []
        for name, label in (("revenge", "Revenge /direct, whole file"), ("baseline", "web.FileResponse, whole file"),
                            ("revenge range", f"Revenge /direct, {part} MiB Range mid-file"),
                            ("baseline range", f"web.FileResponse, {part} MiB Range mid-file")):
            row = direct[name]
            rows.append([label, f"{median(row['rate']):,.0f}", f"{min(row['rate']):,.0f}-{max(row['rate']):,.0f}",
                         f"{median(row['first']):.1f}", f"{median(row['cpu']):.2f}"])
        print_table(["request", "MiB/s", "range MiB/s", "first byte ms", "CPU s/GiB"], rows)
        ratio = median(direct["revenge"]["rate"]) / median(direct["baseline"]["rate"])
        ratio_range = median(direct["revenge range"]["rate"]) / median(direct["baseline range"]["rate"])
        print(f"  Revenge / FileResponse: {ratio:.2f} (whole file), {ratio_range:.2f} (range)"
              f"   [{time.perf_counter() - started:.0f} s]")

        print(f"\n2. time to the first segment, new session each run, median of {args.hls_runs} (ms)")
        started = time.perf_counter()
        hls = await first_segments(client, args.hls_runs)
        rows = []
        for name, runs in hls.items():
            pick = {key: median([r[key] for r in runs]) for key in ("create", "master", "media", "segment", "total")}
            rows.append([name, f"{pick['create'] * 1000:.0f}", f"{pick['master'] * 1000:.0f}",
                         f"{pick['media'] * 1000:.0f}", f"{pick['segment'] * 1000:.0f}",
                         f"{pick['total'] * 1000:.0f}",
                         f"{min(r['total'] for r in runs) * 1000:.0f}-{max(r['total'] for r in runs) * 1000:.0f}",
                         f"{runs[0]['index']}/{runs[0]['segments']}", f"{runs[0]['seconds']:.1f}",
                         f"{median([r['bytes'] for r in runs]) / MiB:.1f}"])
        print_table(["case", "POST", "master", "media", "segment", "total", "total range", "segment #",
                     "seg s", "seg MiB"], rows)
        print(f"  [{time.perf_counter() - started:.0f} s]")

        print(f"\n3a. concurrent direct streams: file {size / MiB:.0f} MiB, {bitrate / 1e6:.2f} Mbit/s; a stream "
              f"sustains playback at >= {sustain:.2f} MiB/s ({SUSTAIN_FACTOR}x); "
              f"each at most {args.stream_seconds:.0f} s")
        started = time.perf_counter()
        rows = []
        for count in args.streams:
            await wait_idle(pid)
            got = await direct_streams(client, count, size, args.stream_seconds)
            rates = got["rates"]
            rows.append([str(count), f"{got['aggregate']:,.0f}", f"{min(rates):,.1f}", f"{median(rates):,.1f}",
                         f"{max(rates):,.1f}", f"{sum(r >= sustain for r in rates)}/{count}",
                         f"{got['complete']}/{count}", f"{got['wall']:.1f}", f"{got['server_cpu'] * 100:.0f}%",
                         f"{got['aggregate'] / sustain:,.0f}"])
        print_table(["streams", "total MiB/s", "min MiB/s", "median", "max", "sustained", "complete", "wall s",
                     "server CPU", "streams at 1.5x (est.)"], rows)
        print(f"  [{time.perf_counter() - started:.0f} s]")

        print(f"\n3b. concurrent transcodes (720p, 4 Mbit/s, x264 veryfast), each for {args.transcode_seconds:.0f} s, "
              f"segments fetched one after the other; max_transcodes = {max(args.transcodes)}")
        started = time.perf_counter()
        rows = []
        for count in args.transcodes:
            got = await transcodes(client, count, args.transcode_seconds)
            speeds = [p["speed"] for p in got["players"]]
            rows.append([str(count), f"{min(speeds):.2f}x", f"{median(speeds):.2f}x", f"{max(speeds):.2f}x",
                         f"{sum(s >= 1.0 for s in speeds)}/{count}",
                         f"{sum(p['segments'] for p in got['players'])}", f"{sum(speeds):.2f}x",
                         f"{got['server_cpu'] * 100:.0f}%"])
        print_table(["sessions", "min speed", "median", "max", "sustained (>=1x)", "segments", "total speed",
                     "server CPU"], rows)
        print(f"  [{time.perf_counter() - started:.0f} s]")


def parse_list(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="a shorter run: 128 s movie, 3 runs, 1/4/16 streams, 1/2 transcodes for 15 s")
    parser.add_argument("--loops", type=int, help="copies of the noise block in the movie (default 10: 10m40s)")
    parser.add_argument("--unique-seconds", type=int, default=64, help="seconds of noise encoded (a multiple of 2)")
    parser.add_argument("--video-mbps", type=float, default=4.0, help="the movie's average video bit rate")
    parser.add_argument("--runs", type=int, help="whole-file downloads from each server (default 5)")
    parser.add_argument("--hls-runs", type=int, help="sessions per first-segment case (default 3)")
    parser.add_argument("--streams", type=parse_list, help="concurrent direct streams to try (default 1,4,16,64)")
    parser.add_argument("--stream-seconds", type=float, default=60.0, help="the longest one stream may download")
    parser.add_argument("--transcodes", type=parse_list, help="concurrent transcodes to try (default 1,2,3,4)")
    parser.add_argument("--transcode-seconds", type=float, help="how long each transcode batch plays (default 40)")
    args = parser.parse_args()
    quick = args.quick
    args.loops = args.loops or (2 if quick else 10)
    args.runs = args.runs or (3 if quick else 5)
    args.hls_runs = args.hls_runs or (2 if quick else 3)
    args.streams = args.streams or ([1, 4, 16] if quick else [1, 4, 16, 64])
    args.transcodes = args.transcodes or ([1, 2] if quick else [1, 2, 3, 4])
    args.transcode_seconds = args.transcode_seconds or (15.0 if quick else 40.0)
    if args.unique_seconds < 2 or args.unique_seconds % 2:
        parser.error("--unique-seconds must be an even number of seconds (keyframes every 2 s)")

    total = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="revenge-bench-playback-") as folder:
        root = Path(folder)
        started = time.perf_counter()
        movie = make_movie(root / "media", args.loops, args.unique_seconds, round(args.video_mbps * 1e6))
        size = movie.stat().st_size
        seconds = args.loops * args.unique_seconds
        bitrate = size * 8 / seconds
        print(f"movie: {movie.name}, {WIDTH}x{HEIGHT} h264 + AAC in mkv, {seconds // 60}m{seconds % 60:02d}s, "
              f"{size / MiB:.0f} MiB, {bitrate / 1e6:.2f} Mbit/s (written in {time.perf_counter() - started:.0f} s: "
              f"{args.unique_seconds} s of noise encoded, copied {args.loops} times)")
        print(f"machine: {os.cpu_count()} cores, load average {', '.join(f'{x:.2f}' for x in os.getloadavg())}")

        spawn = multiprocessing.get_context("spawn")
        ours, theirs = spawn.Pipe()
        (root / "data").mkdir()
        server = spawn.Process(target=serve, args=(theirs, str(root / "media"), str(movie), str(root / "data"),
                                                   max(args.transcodes)), daemon=True)
        started = time.perf_counter()
        server.start()
        try:
            if not ours.poll(300):
                raise RuntimeError("the server did not start within 300 s")
            info = ours.recv()
            if "error" in info:
                raise RuntimeError(f"the server failed to start: {info['error']}")
            info["bitrate"] = bitrate
            print(f"server: pid {server.pid}, ready, library scanned and logged in after "
                  f"{time.perf_counter() - started:.1f} s")
            asyncio.run(measure(args, info, movie, server.pid))
        finally:
            with contextlib.suppress(Exception):
                ours.send("stop")
            server.join(30)
            if server.is_alive():
                server.terminate()
                server.join(10)
    print(f"\nwhole run {time.perf_counter() - total:.0f} s; load average now "
          f"{', '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
