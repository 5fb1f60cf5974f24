// The reconnect storm's devices (../storm.py), in Node.js.
//
//     node storm.mjs CONFIG.json
//
// On the benchmark machine the Python devices filled the load core during
// the storm: websockets' client handshakes, not the hub, set how long 5,000
// devices took to come back, and every run was "invalid". These devices do
// the same at a fraction of the CPU. ../storm.py creates the pairs, starts
// this process pinned to the load core, tells it when to cut, reads the
// stored versions and checks what each device received.
//
// Config: {"url", "stayers": [first members' tokens], "leavers": [second
// members' tokens], "rate", "seconds"}. The conversation, one JSON line each
// way (stdout from here, stdin from storm.py):
//
//   out {"event": "connected", "connect_s", "pairs": [per leaver]}
//                                              every device welcomed; the stayers
//                                              start sending at once
//   in  {"command": "cut"}                     abort every leaver's connection,
//                                              then all reconnect with their position
//   out {"event": "back", "cut_at", "back_at": [per leaver], "loop_delay_ms": {p99, max}}
//                                              (how late this process's own event loop
//                                              ran during the storm: its own share of
//                                              the stayers' result times)
//   out {"event": "sent"}                      the stayers' last signal went out and
//                                              was answered (or 10 s passed)
//   in  {"command": "settle", "versions": [per leaver]}
//                                              wait (up to 30 s) until every
//                                              leaver has seen its pair's version
//   out {"event": "done", "settled_s", "sends": [[sent, answered, code]...],
//        "leavers": [{pair, first_version, seen, duplicates, resumed,
//                     history_lost, refusals, close_code}...]}
//
// The workload is storm.py's (read its docstring): the stayers send
// check_in and feeling_disconnected in turn, open loop, signal k from stayer
// k mod n at start + (k + 1) / rate. Times are CLOCK_MONOTONIC seconds, as
// in generator.mjs.

import { readFileSync } from "node:fs";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { createInterface } from "node:readline";
import WebSocket from "ws";
import { Gate, SUBPROTOCOL, decoder, emit, encoder, log, now, opened, sleep } from "./common.mjs";

const AGENT = "heartline-storm-node";
const HANDSHAKES_IN_FLIGHT = 200; // the first connect only: the storm itself has no gate
const ATTEMPTS = 20;
const HANDSHAKE_TIMEOUT_MS = 60_000;
const CLOSE_TIMEOUT_MS = 10_000;
const SETTLE_S = 30;
const ANSWER_WAIT_S = 10;
const SETTLE_POLL_MS = 100;

class Device {
  constructor(token) {
    this.token = token;
    this.ws = null;
    this.pair = "";
    this.epoch = "";
    this.firstVersion = 0;
    this.lastSeq = 0;
    this.seen = new Set();
    this.duplicates = 0;
    this.resumed = null;
    this.historyLost = false;
    this.refusals = 0;
    this.backAt = null;
    this.resumedFrom = null;
    this.resumedAt = null;
    this.closeCode = null; // set when the hub (or the network) ended the current connection
  }

  report() {
    return {
      pair: this.pair,
      first_version: this.firstVersion,
      seen: Array.from(this.seen),
      duplicates: this.duplicates,
      resumed: this.resumed,
      history_lost: this.historyLost,
      refusals: this.refusals,
      close_code: this.closeCode,
      resumed_from: this.resumedFrom,
      resumed_at: this.resumedAt,
    };
  }
}

/** What the stayers sent, by signal number: when, and when and how it was answered. */
class Sends {
  constructor() {
    this.sent = [];
    this.answered = [];
    this.code = [];
  }

  toJSON() {
    return this.sent.map((t, k) => [t, this.answered[k] ?? null, this.code[k] ?? null]);
  }
}

/** A frame on a device's live connection: events are checked, results timed, pings answered. */
function onFrame(device, data, sends) {
  const frame = decoder.decode(data);
  if (frame.type === "event") {
    if (device.seen.has(frame.seq)) device.duplicates += 1;
    device.seen.add(frame.seq);
    if (frame.seq > device.lastSeq) device.lastSeq = frame.seq;
  } else if (sends !== null && (frame.type === "result" || frame.type === "error")) {
    const k = typeof frame.id === "string" && /^s\d+$/.test(frame.id) ? Number(frame.id.slice(1)) : -1;
    if (k >= 0 && k < sends.sent.length) {
      sends.answered[k] = now();
      sends.code[k] = frame.type === "error" ? frame.code : "ok";
    }
  } else if (frame.type === "ping") {
    device.ws.send(encoder.encode({ type: "pong", t: frame.t })); // the hub's check (SPEC 7.7)
  }
}

/**
 * Wire a new socket for its whole life; resolves with its first frame.
 *
 * The welcome makes the socket the device's inside the 'message' listener,
 * so that the resent events that follow it in the same read are not lost.
 */
function wire(device, ws, sends, resume) {
  return new Promise((resolve, reject) => {
    let first = true;
    const timer = setTimeout(() => reject(new Error("no first frame in 60 s")), HANDSHAKE_TIMEOUT_MS);
    ws.on("message", (data) => {
      if (device.ws === ws) {
        onFrame(device, data, sends);
        return;
      }
      if (!first) return;
      first = false;
      clearTimeout(timer);
      const frame = decoder.decode(data);
      if (frame.type === "welcome") {
        device.ws = ws;
        device.closeCode = null;
        if (resume === null) {
          device.pair = frame.pair;
          device.epoch = frame.epoch;
          device.firstVersion = device.lastSeq = frame.state.version;
        } else {
          device.resumed = frame.resumed === true;
          device.resumedFrom = resume.seq;
          device.resumedAt = frame.state.version;
          device.historyLost = frame.history_lost === true;
        }
      }
      resolve(frame);
    });
    ws.on("close", (code) => {
      if (device.ws === ws) device.closeCode = code;
    });
    ws.on("error", (error) => {
      if (device.ws === ws) log(`${error.message}`);
    });
  });
}

/** Connect and say hello, retrying `unavailable` refusals as SPEC.md asks. */
async function openDevice(device, url, resume, sends, gate) {
  for (let i = 0; i < ATTEMPTS; i++) {
    let first;
    let ws;
    if (gate !== null) await gate.acquire();
    try {
      ws = new WebSocket(url, SUBPROTOCOL, { perMessageDeflate: false, handshakeTimeout: HANDSHAKE_TIMEOUT_MS });
      const firstFrame = wire(device, ws, sends, resume);
      firstFrame.catch(() => {});
      await opened(ws);
      const hello = { type: "hello", token: device.token, agent: AGENT };
      if (resume !== null) hello.resume = resume;
      ws.send(encoder.encode(hello));
      first = await firstFrame;
    } finally {
      if (gate !== null) gate.release();
    }
    if (device.ws === ws) return;
    ws.close();
    device.refusals += 1;
    if (first.type !== "error" || first.code !== "unavailable") {
      throw new Error(`no welcome but ${JSON.stringify(first)}`);
    }
    await sleep(first.retry_after_ms || 1000);
  }
  throw new Error(`refused ${ATTEMPTS} times`);
}

/** Signal k from stayer k mod n at start + (k + 1) / rate, answered or not. */
function sendOpenLoop(stayers, rate, seconds, sends) {
  const total = Math.trunc(rate * seconds);
  const start = now() + 0.05;
  let k = 0;
  return new Promise((resolve) => {
    const wake = () => {
      const t = now();
      while (k < total && start + (k + 1) / rate <= t) {
        const device = stayers[k % stayers.length];
        const kind = k % 2 ? "check_in" : "feeling_disconnected";
        sends.sent[k] = now();
        if (device.ws.readyState === WebSocket.OPEN) {
          device.ws.send(encoder.encode({ type: "signal", id: `s${k}`, kind, note: `storm ${k}` }));
        } else {
          sends.answered[k] = now();
          sends.code[k] = "closed";
        }
        k += 1;
      }
      if (k >= total) resolve();
      else setTimeout(wake, Math.max(0, (start + (k + 1) / rate - now()) * 1000));
    };
    setTimeout(wake, Math.max(0, (start + 1 / rate - now()) * 1000));
  });
}

/** Cut every leaver's connection at once, then bring every one back with its position. */
async function storm(leavers, url) {
  for (const device of leavers) {
    const ws = device.ws;
    device.ws = null; // its last frames, if any arrive, are no longer this device's
    ws.terminate();
  }
  const cutAt = now();
  await Promise.all(
    leavers.map(async (device) => {
      await openDevice(device, url, { seq: device.lastSeq, epoch: device.epoch }, null, null);
      device.backAt = now();
    }),
  );
  return cutAt;
}

/** Wait until every signal sent has its answer, or the deadline passes. */
async function answered(sends, deadline) {
  while (now() < deadline && sends.answered.filter((t) => t !== undefined).length < sends.sent.length) {
    await sleep(SETTLE_POLL_MS);
  }
}

/** Wait until every leaver has seen its pair's stored version; the seconds it took. */
async function settle(leavers, versions) {
  const started = now();
  while (now() - started < SETTLE_S) {
    if (leavers.every((device, i) => device.lastSeq >= versions[i])) break;
    await sleep(SETTLE_POLL_MS);
  }
  return now() - started;
}

async function closeAll(devices) {
  const open = devices.filter((device) => device.ws !== null && device.ws.readyState !== WebSocket.CLOSED);
  const closed = open.map((device) => new Promise((resolve) => device.ws.once("close", resolve)));
  for (const device of open) device.ws.close(1000);
  const timer = setTimeout(() => {
    for (const device of open) device.ws.terminate();
  }, CLOSE_TIMEOUT_MS);
  await Promise.all(closed);
  clearTimeout(timer);
}

/** The runner's commands, one JSON line each, in order. */
function commands() {
  const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
  return async (expected) => {
    const { value, done } = await lines.next();
    if (done) throw new Error(`stdin ended before the ${expected} command`);
    const command = JSON.parse(value);
    if (command.command !== expected) throw new Error(`expected ${expected}, got ${value}`);
    return command;
  };
}

async function main(configPath) {
  const config = JSON.parse(readFileSync(configPath, "utf8"));
  const next = commands();
  const stayers = config.stayers.map((token) => new Device(token));
  const leavers = config.leavers.map((token) => new Device(token));
  const sends = new Sends();
  const gate = new Gate(HANDSHAKES_IN_FLIGHT);
  const started = now();
  await Promise.all([
    ...stayers.map((device) => openDevice(device, config.url, null, sends, gate)),
    ...leavers.map((device) => openDevice(device, config.url, null, null, gate)),
  ]);
  emit({ event: "connected", connect_s: now() - started, pairs: leavers.map((device) => device.pair) });
  const sending = sendOpenLoop(stayers, config.rate, config.seconds, sends);
  await next("cut");
  const delay = monitorEventLoopDelay({ resolution: 1 });
  delay.enable();
  const cutAt = await storm(leavers, config.url);
  delay.disable();
  const loopDelayMs = { p99: delay.percentile(99) / 1e6, max: delay.max / 1e6 };
  emit({ event: "back", cut_at: cutAt, back_at: leavers.map((device) => device.backAt), loop_delay_ms: loopDelayMs });
  await sending;
  await answered(sends, now() + ANSWER_WAIT_S);
  emit({ event: "sent" });
  const { versions } = await next("settle");
  const settledS = await settle(leavers, versions);
  const reports = leavers.map((device) => device.report());
  await closeAll([...stayers, ...leavers]);
  const done = JSON.stringify({ event: "done", settled_s: settledS, sends: sends.toJSON(), leavers: reports });
  process.stdout.write(`${done}\n`, () => process.exit(0));
}

if (process.argv.length !== 3) {
  log("usage: node storm.mjs CONFIG.json");
  process.exit(2);
}
main(process.argv[2]).catch((error) => {
  log(error.stack ?? String(error));
  process.exit(1);
});
