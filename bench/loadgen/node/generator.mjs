// The open-loop load generator of ../generator.py, in Node.js.
//
//     node generator.mjs CONFIG.json
//
// The same workload as the Python generator, at a fraction of its CPU per
// frame: at 5,000 signals/s the Python generator and Valkey saturate the
// core they share, and the run is "invalid" by the generator, not the hub.
// ../node_generator.py starts this process, feeds it the config and turns
// its last line into a generator.Recorder, so run.py's summary and verdict
// are computed by the same code for both generators.
//
// Workload (read ../generator.py's docstring; keep the two alike): 2N
// clients, clients 0..N-1 the first members of pairs 0..N-1 and N..2N-1 the
// second members. Signal k is due at start + (k + 1) / rate and is sent by
// client k mod 2N whether or not earlier signals were answered. Each client
// cycles need_space (3,600 s), im_back, feeling_disconnected and ack of the
// partner's latest open bid (check_in when there is none); the note (or the
// reply) names the signal, "lg-0000000042-bench.", so the partner's device
// can tell which signal an event is and whether it was meant for it.
//
// Config: {"ws_urls": [first members' URL, second members' URL], "tokens":
// [first members..., second members...], "rate", "warmup_s", "measure_s",
// "drain_s"}. Stdout carries exactly three JSON lines: {"event":
// "connected", ...}, {"event": "start", "start": ...} and {"event": "done",
// ...} with the recorder; diagnostics go to stderr.
//
// Clock: every time is in seconds of CLOCK_MONOTONIC. process.hrtime.bigint()
// reads it through libuv (uv_hrtime), and Python's time.perf_counter() reads
// the same clock on Linux, so the runner compares these times with its own
// readings directly. Checked on the benchmark machine: a reading taken in a
// node process fell between two perf_counter() readings of the Python
// process that started it, and node_generator.py checks the start line
// against its own clock on every run.

import { readFileSync } from "node:fs";
import { PerformanceObserver, performance } from "node:perf_hooks";
import WebSocket from "ws";
import { Gate, SUBPROTOCOL, decoder, emit, encoder, log, now, opened, sleep } from "./common.mjs";

const AGENT = "heartline-loadgen-node";
const SPACE_SECONDS = 3600; // long enough that no space-ending timer fires during a run
const HANDSHAKES_IN_FLIGHT = 200;
const HANDSHAKE_ATTEMPTS = 10;
const HANDSHAKE_TIMEOUT_MS = 60_000;
const CLOSE_TIMEOUT_MS = 10_000; // as websockets' close_timeout in the Python generator
const DRAIN_POLL_MS = 100;
const START_DELAY_S = 0.05;
const NOT_SET = -1;
const STALL_MS = 3;
const PROBE_MS = 5;
const BID_KINDS = new Set(["feeling_disconnected", "check_in"]);
const SIGNAL_KINDS = new Set(["need_space", "im_back", "feeling_disconnected", "check_in", "ack"]);

function noteFor(k) {
  return `lg-${String(k).padStart(10, "0")}-bench.`;
}

/** The signal number a note names, or null when it names none. */
function signalNumber(note) {
  if (typeof note !== "string" || !note.startsWith("lg-")) return null;
  const k = Number(note.slice(3, 13));
  return Number.isInteger(k) ? k : null;
}

/** The k of a message id "s<k>", or -1 for any other id (or none). */
function idNumber(id) {
  if (typeof id !== "string" || !/^s\d+$/.test(id)) return -1;
  return Number(id.slice(1));
}

function increment(counts, key) {
  counts[key] = (counts[key] ?? 0) + 1;
}

/** Per-signal times indexed by signal number, and counters: generator.Recorder's fields. */
class Recorder {
  constructor(capacity) {
    this.capacity = capacity;
    this.due = new Float64Array(capacity).fill(NOT_SET);
    this.sent = new Float64Array(capacity).fill(NOT_SET);
    this.result = new Float64Array(capacity).fill(NOT_SET);
    this.delivered = new Float64Array(capacity).fill(NOT_SET);
    this.failed = new Map();
    this.duplicates = 0;
    this.misrouted = 0;
    this.unknownResults = 0;
    this.refusedKinds = {};
    this.kindsSent = {};
    this.closeCodes = {}; // how each connection ended (1000: our own close after the drain)
  }

  /** Every signal has its result, and its delivery unless it failed. */
  complete() {
    for (let k = 0; k < this.capacity; k++) {
      if (this.result[k] === NOT_SET) return false;
      if (this.delivered[k] === NOT_SET && !this.failed.has(k)) return false;
    }
    return true;
  }

  toJSON() {
    return {
      capacity: this.capacity,
      due: Array.from(this.due),
      sent: Array.from(this.sent),
      result: Array.from(this.result),
      delivered: Array.from(this.delivered),
      failed: Object.fromEntries(this.failed),
      duplicates: this.duplicates,
      misrouted: this.misrouted,
      unknown_results: this.unknownResults,
      refused_kinds: this.refusedKinds,
      kinds_sent: this.kindsSent,
      close_codes: this.closeCodes,
    };
  }
}

class Client {
  constructor(index, token) {
    this.index = index;
    this.token = token;
    this.ws = null;
    this.member = "";
    this.partnerOpenBid = null;
    this.sentCount = 0;
  }

  /** The next signal frame of this client's cycle, as a map in the Python codec's key order. */
  nextSignal(k) {
    const id = `s${k}`;
    const note = noteFor(k);
    const step = this.sentCount % 4;
    this.sentCount += 1;
    if (step === 0) {
      return { type: "signal", id, kind: "need_space", duration: SPACE_SECONDS, note };
    }
    if (step === 1) return { type: "signal", id, kind: "im_back", note };
    if (step === 2) return { type: "signal", id, kind: "feeling_disconnected", note };
    const target = this.partnerOpenBid;
    this.partnerOpenBid = null;
    if (target === null) return { type: "signal", id, kind: "check_in", note };
    return { type: "signal", id, kind: "ack", target, reply: note };
  }
}

// ------------------------------------------------------------------ frames

/** A hub frame arrived on a connected client: the rules of generator.py's _on_frame. */
function onFrame(client, data, t, rec, nClients) {
  const frame = decoder.decode(data);
  if (frame.type === "result") {
    const k = idNumber(frame.id);
    if (k >= 0 && k < rec.capacity) rec.result[k] = t;
    else rec.unknownResults += 1;
  } else if (frame.type === "error") {
    const k = idNumber(frame.id);
    increment(rec.refusedKinds, frame.code);
    if (k >= 0 && k < rec.capacity) {
      rec.result[k] = t;
      rec.failed.set(k, frame.code);
    }
  } else if (frame.type === "event" && SIGNAL_KINDS.has(frame.kind)) {
    onSignalEvent(client, frame, t, rec, nClients);
  } else if (frame.type === "ping") {
    client.ws.send(encoder.encode({ type: "pong", t: frame.t })); // the hub's check (SPEC 7.7)
  }
}

/** A partner's signal arrived: is it new, and is this the device it was meant for? */
function onSignalEvent(client, event, t, rec, n) {
  if (event.member === client.member) return; // our own signal, echoed to every device of the pair
  const k = signalNumber(event.kind === "ack" ? event.reply : event.note);
  if (k === null || k >= rec.capacity || ((k % n) + Math.floor(n / 2)) % n !== client.index) {
    rec.misrouted += 1;
  } else if (rec.delivered[k] !== NOT_SET) {
    rec.duplicates += 1;
  } else {
    rec.delivered[k] = t;
    if (BID_KINDS.has(event.kind)) client.partnerOpenBid = event.seq;
  }
}

// ------------------------------------------------------------------ connecting

/**
 * Wire a new socket for its whole life; resolves with its first frame.
 *
 * The welcome takes the client at once, inside the 'message' listener: ws
 * may emit the welcome and the frames after it in one go, and none of them
 * may be lost between the handshake and the load. Frames after it, and the
 * close, are the recorder's.
 */
function wire(client, ws, run) {
  return new Promise((resolve, reject) => {
    let first = true;
    const late = () => reject(new Error(`client ${client.index}: no first frame in 60 s`));
    const timer = setTimeout(late, HANDSHAKE_TIMEOUT_MS);
    ws.on("message", (data, isBinary) => {
      if (client.ws === ws) {
        if (isBinary) onFrame(client, data, now(), run.rec, run.nClients);
        else log(`client ${client.index}: a text frame, ignored`);
        return;
      }
      if (!first) return; // a refused attempt's leftovers
      first = false;
      clearTimeout(timer);
      if (!isBinary) {
        reject(new Error(`client ${client.index}: a text frame instead of welcome`));
        return;
      }
      const frame = decoder.decode(data);
      if (frame.type === "welcome") {
        client.ws = ws;
        client.member = frame.member;
      }
      resolve(frame);
    });
    ws.on("close", (code) => {
      if (client.ws === ws) increment(run.rec.closeCodes, String(code));
    });
    ws.on("error", (error) => {
      if (client.ws === ws) log(`client ${client.index}: ${error.message}`);
    });
  });
}

/** One handshake: open, hello, and the first frame; null once welcomed, else seconds to wait. */
async function attempt(client, url, gate, run) {
  let first;
  let ws;
  await gate.acquire();
  try {
    ws = new WebSocket(url, SUBPROTOCOL, {
      perMessageDeflate: false,
      handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
    });
    const firstFrame = wire(client, ws, run);
    firstFrame.catch(() => {}); // awaited below unless opening fails first
    await opened(ws);
    ws.send(encoder.encode({ type: "hello", token: client.token, agent: AGENT }));
    first = await firstFrame;
  } finally {
    gate.release();
  }
  if (client.ws === ws) return null;
  ws.close();
  if (first.type === "error" && first.code === "unavailable") {
    return (first.retry_after_ms || 1000) / 1000;
  }
  throw new Error(`client ${client.index}: no welcome but ${JSON.stringify(first)}`);
}

/** Connect one client, retrying a refusal with unavailable after its retry_after_ms. */
async function connectOne(client, url, gate, run) {
  for (let i = 0; i < HANDSHAKE_ATTEMPTS; i++) {
    const wait = await attempt(client, url, gate, run);
    if (wait === null) return;
    run.refused += 1;
    await sleep(wait * 1000);
  }
  throw new Error(`client ${client.index}: refused ${HANDSHAKE_ATTEMPTS} times`);
}

/** Every client of one URL, at most 200 handshakes in flight: generator.connect_all. */
async function connectAll(url, clients, run) {
  const gate = new Gate(HANDSHAKES_IN_FLIGHT);
  const started = now();
  await Promise.all(clients.map((client) => connectOne(client, url, gate, run)));
  return now() - started;
}

/** First members to the first URL, second members to the second: run.connect_split. */
async function connectSplit(urls, clients, run) {
  if (urls[0] === urls[1]) return connectAll(urls[0], clients, run);
  const half = Math.floor(clients.length / 2);
  const first = await connectAll(urls[0], clients.slice(0, half), run);
  return first + (await connectAll(urls[1], clients.slice(half), run));
}

// ------------------------------------------------------------------ the load

/**
 * The open loop: send signal k at start + (k + 1) / rate, answered or not.
 *
 * Each wake-up sends every signal due by then and sleeps until the next one
 * is due: setTimeout wakes within about a millisecond without burning the
 * core Valkey shares, where a busy loop would.
 */
function sendAll(clients, rate, start, rec) {
  const n = clients.length;
  let k = 0;
  return new Promise((resolve) => {
    const wake = () => {
      const t = now();
      while (k < rec.capacity && start + (k + 1) / rate <= t) {
        sendOne(clients[k % n], k, start + (k + 1) / rate, rec);
        k += 1;
      }
      if (k >= rec.capacity) {
        resolve();
        return;
      }
      setTimeout(wake, Math.max(0, (start + (k + 1) / rate - now()) * 1000));
    };
    setTimeout(wake, Math.max(0, (start + 1 / rate - now()) * 1000));
  });
}

function sendOne(client, k, due, rec) {
  const frame = client.nextSignal(k);
  increment(rec.kindsSent, frame.kind);
  const data = encoder.encode(frame);
  rec.due[k] = due;
  rec.sent[k] = now();
  if (client.ws.readyState === WebSocket.OPEN) client.ws.send(data);
  else rec.failed.set(k, "closed");
}

/**
 * Diagnostics (config.diagnose): the generator's own pauses over STALL_MS, as
 * [clock, ms]: GC passes (perf_hooks), and wake-ups of a probe due every
 * PROBE_MS that came late (the loop was busy). A slow delivery near one may
 * be the generator's, not the hub's.
 */
function watchStalls() {
  const stalls = [];
  const offset = now() - performance.now() / 1000;
  const gc = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      if (entry.duration > STALL_MS) stalls.push([offset + entry.startTime / 1000, entry.duration]);
    }
  });
  gc.observe({ entryTypes: ["gc"] });
  let due = now() + PROBE_MS / 1000;
  let timer = null;
  const probe = () => {
    const t = now();
    if ((t - due) * 1000 > STALL_MS) stalls.push([due, (t - due) * 1000]);
    due = t + PROBE_MS / 1000;
    timer = setTimeout(probe, PROBE_MS);
  };
  timer = setTimeout(probe, PROBE_MS);
  return {
    stop() {
      gc.disconnect();
      clearTimeout(timer);
      return stalls.sort((a, b) => a[0] - b[0]);
    },
  };
}

/** Wait until every signal has its result and its delivery, or the drain time is up. */
async function drain(rec, deadline) {
  while (now() < deadline) {
    if (rec.complete()) return;
    await sleep(DRAIN_POLL_MS);
  }
}

/** Close every connection with 1000 and wait for the hub's answers (terminate past 10 s). */
async function closeAll(clients) {
  const closed = clients.map(
    (client) =>
      new Promise((resolve) => {
        if (client.ws.readyState === WebSocket.CLOSED) resolve();
        else client.ws.once("close", resolve);
      }),
  );
  for (const client of clients) client.ws.close(1000);
  const timer = setTimeout(() => {
    for (const client of clients) {
      if (client.ws.readyState !== WebSocket.CLOSED) client.ws.terminate();
    }
  }, CLOSE_TIMEOUT_MS);
  await Promise.all(closed);
  clearTimeout(timer);
}

async function main(configPath) {
  const config = JSON.parse(readFileSync(configPath, "utf8"));
  const { ws_urls: urls, tokens, rate } = config;
  const clients = tokens.map((token, index) => new Client(index, token));
  const run = {
    rec: new Recorder(Math.trunc(rate * (config.warmup_s + config.measure_s))),
    nClients: clients.length,
    refused: 0,
  };
  const connectS = await connectSplit(urls, clients, run);
  const connected = clients.length; // all of them: a client refused 10 times ends the run
  emit({ event: "connected", connect_s: connectS, refused: run.refused, connected });
  const ping = encoder.encode({ type: "ping" });
  for (const client of clients) client.ws.send(ping); // every connection has been heard from lately
  const start = now() + START_DELAY_S;
  emit({ event: "start", start });
  const watch = config.diagnose ? watchStalls() : null;
  await sendAll(clients, rate, start, run.rec);
  await drain(run.rec, start + config.warmup_s + config.measure_s + config.drain_s);
  const stalls = watch === null ? [] : watch.stop();
  await closeAll(clients);
  const done = JSON.stringify({ event: "done", ...run.rec.toJSON(), stalls });
  process.stdout.write(`${done}\n`, () => process.exit(0)); // a pipe may take the 5 MB in parts
}

if (process.argv.length !== 3) {
  log("usage: node generator.mjs CONFIG.json");
  process.exit(2);
}
main(process.argv[2]).catch((error) => {
  log(error.stack ?? String(error));
  process.exit(1);
});
